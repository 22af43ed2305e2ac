"""Rules of the k8s family, listed explicitly and sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.k8s import (
    cpu_request_missing,
    gogc_off_without_limit,
    gomemlimit_at_or_above_limit,
    gomemlimit_missing,
    hpa_conflict,
    liveness_kills_slow_start,
    liveness_probe_missing,
    liveness_same_as_readiness,
    memory_limit_missing,
    memory_overcommit,
    memory_request_missing,
    no_prestop_drain,
    pdb_blocks_eviction,
    readiness_probe_missing,
    shell_swallows_sigterm,
    single_replica,
)

RULES: list[Rule[Any]] = [
    memory_limit_missing.RULE,
    memory_request_missing.RULE,
    memory_overcommit.RULE,
    cpu_request_missing.RULE,
    liveness_probe_missing.RULE,
    readiness_probe_missing.RULE,
    liveness_same_as_readiness.RULE,
    liveness_kills_slow_start.RULE,
    no_prestop_drain.RULE,
    shell_swallows_sigterm.RULE,
    gomemlimit_missing.RULE,
    gomemlimit_at_or_above_limit.RULE,
    gogc_off_without_limit.RULE,
    single_replica.RULE,
    pdb_blocks_eviction.RULE,
    hpa_conflict.RULE,
]
