"""Rules of the image family (Dockerfile, compose), listed explicitly and sorted by id."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule
from killproof.rules.image import (
    kp301_shell_form_entrypoint,
    kp302_stopsignal_not_handled,
    kp303_compose_no_memory_limit,
)

RULES: list[Rule[Any]] = [
    kp301_shell_form_entrypoint.RULE,
    kp302_stopsignal_not_handled.RULE,
    kp303_compose_no_memory_limit.RULE,
]
