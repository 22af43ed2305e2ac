"""Rules of the drill family (KP6xx), listed explicitly and sorted by id.

Each rule's ``check`` takes a :class:`killproof.facts.drill.DrillResult`.
"""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.drill import (
    kp601_oom_killed,
    kp602_memory_leak,
    kp603_goroutine_leak,
    kp604_shutdown_overran_grace,
    kp605_requests_dropped_on_shutdown,
    kp606_exit_code_nonzero_on_sigterm,
    kp607_sigterm_ignored,
    kp608_slow_start,
    kp609_slo_missed_below_target_rate,
    kp610_memory_thrash_at_limit,
)

RULES: list[Rule[Any]] = [
    kp601_oom_killed.RULE,
    kp602_memory_leak.RULE,
    kp603_goroutine_leak.RULE,
    kp604_shutdown_overran_grace.RULE,
    kp605_requests_dropped_on_shutdown.RULE,
    kp606_exit_code_nonzero_on_sigterm.RULE,
    kp607_sigterm_ignored.RULE,
    kp608_slow_start.RULE,
    kp609_slo_missed_below_target_rate.RULE,
    kp610_memory_thrash_at_limit.RULE,
]
"""The rule catalog: an explicit, sorted list per family, no registration by import."""
