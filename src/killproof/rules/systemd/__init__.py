"""Rules of the systemd family, listed explicitly and sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.systemd import systemd_no_memory_limit

RULES: list[Rule[Any]] = [systemd_no_memory_limit.RULE]
