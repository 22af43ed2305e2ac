"""Rules of the systemd family, listed explicitly and sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.systemd import kp304_systemd_no_memory_limit

RULES: list[Rule[Any]] = [kp304_systemd_no_memory_limit.RULE]
