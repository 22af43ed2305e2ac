"""The one place that reads the environment and configuration files.

Everything else receives a frozen :class:`Settings` built here at the CLI edge.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from killproof.model import Severity


@dataclass(frozen=True)
class Settings:
    """Run-wide settings: output colour and width, failing severity."""

    color: bool = False
    width: int = 100
    fail_on: Severity = Severity.ERROR


def terminal_settings(
    is_tty: bool, fail_on: Severity, environ: Mapping[str, str] | None = None
) -> Settings:
    """Colour only on a terminal and never with ``NO_COLOR`` set (https://no-color.org)."""
    env = os.environ if environ is None else environ
    color = is_tty and "NO_COLOR" not in env and env.get("TERM") != "dumb"
    width = shutil.get_terminal_size((100, 24)).columns if is_tty else 100
    return Settings(color=color, width=max(width, 60), fail_on=fail_on)
