"""Rules of the go family (see DESIGN.md), listed explicitly and sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule

RULES: list[Rule[Any]] = []
