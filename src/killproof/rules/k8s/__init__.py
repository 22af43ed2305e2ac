"""Rules of the k8s family, listed explicitly and sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.k8s import (
    kp201_memory_limit_missing,
    kp202_memory_request_missing,
    kp203_memory_overcommit,
    kp204_cpu_request_missing,
    kp205_liveness_probe_missing,
    kp206_readiness_probe_missing,
    kp207_liveness_same_as_readiness,
    kp208_liveness_kills_slow_start,
    kp209_no_prestop_drain,
    kp214_single_replica,
    kp215_pdb_blocks_eviction,
    kp216_hpa_conflict,
    kp217_daemonset_besteffort,
)

RULES: list[Rule[Any]] = [
    kp201_memory_limit_missing.RULE,
    kp202_memory_request_missing.RULE,
    kp203_memory_overcommit.RULE,
    kp204_cpu_request_missing.RULE,
    kp205_liveness_probe_missing.RULE,
    kp206_readiness_probe_missing.RULE,
    kp207_liveness_same_as_readiness.RULE,
    kp208_liveness_kills_slow_start.RULE,
    kp209_no_prestop_drain.RULE,
    kp214_single_replica.RULE,
    kp215_pdb_blocks_eviction.RULE,
    kp216_hpa_conflict.RULE,
    kp217_daemonset_besteffort.RULE,
]
