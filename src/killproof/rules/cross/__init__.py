"""Rules of the cross-layer family (Go code and deploy files together), sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.cross import (
    gomaxprocs_vs_cpu_limit,
    grace_shorter_than_drain,
    probe_path_not_served,
    probe_port_not_served,
)

RULES: list[Rule[Any]] = [
    grace_shorter_than_drain.RULE,
    probe_path_not_served.RULE,
    probe_port_not_served.RULE,
    gomaxprocs_vs_cpu_limit.RULE,
]
