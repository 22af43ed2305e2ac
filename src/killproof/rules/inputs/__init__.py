"""Rules of the input family: files ``check`` was given but could not read."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.inputs import kp001_file_not_read

RULES: list[Rule[Any]] = [kp001_file_not_read.RULE]
