"""PromQL-style durations (``7d``, ``12h``, ``1w2d``) and evaluation times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from killproof.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_TERM = re.compile(r"(\d+)([smhdwy])")


def parse_window(text: str) -> int:
    """A Prometheus duration (``7d``, ``36h``, ``1w2d``, ``600s``) in whole seconds (> 0)."""
    value = text.strip()
    pos, total = 0, 0
    for match in _TERM.finditer(value):
        if match.start() != pos:
            break
        total += int(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if pos != len(value) or total <= 0:
        raise InputError(f"bad window {text!r} (use a Prometheus duration: 7d, 36h, 1w2d)")
    return total


def promql_duration(seconds: int) -> str:
    """Seconds as the shortest exact PromQL duration in days, hours or minutes (``604800`` → ``7d``)."""
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_at(text: str) -> float:
    """An evaluation time: Unix seconds or an RFC 3339 time (``2026-01-01T00:00:00Z``)."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"bad time {text!r} (Unix seconds or RFC 3339)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
