"""Kill times a person reads: ``2026-12-07 19:41:02 (12 min ago)`` instead of ``9097.249828``.

A raw kernel log stamps each line with seconds since boot. On the machine that wrote it,
the boot time (``btime`` in ``/proc/stat``, seconds since 1970) turns that into a clock
time. (The kernel's stamp stops while the machine is suspended, so on a laptop that slept
the clock time is early by the time asleep; on a server it is exact to the second.)

The wall clock is injected (:class:`WallClock`), so what "ago" says is tested without
waiting and without depending on when the test runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from killproof.facts.kill import KillEvent

_MAX_STAT_BYTES = 1 << 20


@dataclass(frozen=True)
class WallClock:
    """The time now and this machine's boot time, both in seconds since 1970 (``boot_s``
    None when unknown); ``tz`` is the zone clock times are shown in (None: local time)."""

    now_s: float
    boot_s: float | None = None
    tz: tzinfo | None = None


def read_boot_time(proc: Path = Path("/proc")) -> float | None:
    """``btime`` of ``/proc/stat``: when this machine booted, in seconds since 1970 (None
    when the file cannot be read or has no such line)."""
    try:
        with (proc / "stat").open("rb") as handle:
            text = handle.read(_MAX_STAT_BYTES).decode("ascii", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "btime" and value.strip().isdigit():
            return float(value.strip())
    return None


def system_clock(proc: Path = Path("/proc")) -> WallClock:
    """This machine's clock: now, its boot time, the local zone."""
    return WallClock(now_s=time.time(), boot_s=read_boot_time(proc))


def with_clock_time(event: KillEvent, boot_s: float | None) -> KillEvent:
    """``event`` with ``epoch_s`` set from its seconds since boot (``uptime_s``) when only
    those are known and the boot time ``boot_s`` (seconds since 1970) is given."""
    if boot_s is None or event.epoch_s is not None or event.uptime_s is None:
        return event
    return event.with_changes(epoch_s=boot_s + event.uptime_s)


def clock_text(epoch_s: float, tz: tzinfo | None = None) -> str:
    """``2026-12-07 19:41:02``: seconds since 1970 as a date and time in ``tz`` (local
    time when None)."""
    moment = datetime.fromtimestamp(epoch_s, tz) if tz else datetime.fromtimestamp(epoch_s)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def ago(seconds: float) -> str:
    """How long ago, for a person: ``just now``, ``40 s ago``, ``12 min ago``, ``3 h ago``,
    ``1 day ago``, ``9 days ago``; ``in the future`` for a time after now (a clock skew)."""
    if seconds < -60:
        return "in the future"
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day ago" if days == 1 else f"{days} days ago"


def when(event: KillEvent, clock: WallClock | None, inline: bool = False) -> str:
    """When the kill happened, as well as it is known: ``2026-12-07 19:41:02 (12 min ago)``
    (``inline``: ``2026-12-07 19:41:02, 12 min ago``) with a clock time and a ``clock``,
    else the time as the source printed it (``""`` when none)."""
    if event.epoch_s is None or clock is None:
        return event.time or ""
    text = clock_text(event.epoch_s, clock.tz)
    since = ago(clock.now_s - event.epoch_s)
    return f"{text}, {since}" if inline else f"{text} ({since})"
