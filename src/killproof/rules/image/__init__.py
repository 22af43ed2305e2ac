"""Rules of the image family (Dockerfile, compose), listed explicitly and sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.image import (
    compose_no_memory_limit,
    shell_form_entrypoint,
    stopsignal_not_handled,
)

RULES: list[Rule[Any]] = [
    shell_form_entrypoint.RULE,
    stopsignal_not_handled.RULE,
    compose_no_memory_limit.RULE,
]
