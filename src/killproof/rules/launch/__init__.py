"""Rules of the launch family: how any launch (a Kubernetes container, a compose service,
a systemd unit) starts a Go program and sets its memory and GC limits, sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.launch import (
    kp210_shell_swallows_sigterm,
    kp211_gomemlimit_missing,
    kp212_gomemlimit_at_or_above_limit,
    kp213_gogc_off_without_limit,
)

RULES: list[Rule[Any]] = [
    kp210_shell_swallows_sigterm.RULE,
    kp211_gomemlimit_missing.RULE,
    kp212_gomemlimit_at_or_above_limit.RULE,
    kp213_gogc_off_without_limit.RULE,
]
