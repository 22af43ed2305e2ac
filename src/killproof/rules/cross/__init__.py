"""Rules of the cross-layer family (Go code and deploy files together), sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.cross import (
    kp501_grace_shorter_than_drain,
    kp502_probe_path_not_served,
    kp503_probe_port_not_served,
    kp504_gomaxprocs_vs_cpu_limit,
)

RULES: list[Rule[Any]] = [
    kp501_grace_shorter_than_drain.RULE,
    kp502_probe_path_not_served.RULE,
    kp503_probe_port_not_served.RULE,
    kp504_gomaxprocs_vs_cpu_limit.RULE,
]
