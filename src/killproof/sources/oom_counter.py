"""A cgroup's ``oom_kill`` counter pasted twice → :class:`KillEvent` (a LineParser).

``memory.oom_control`` (cgroup v1) and ``memory.events`` (v2) count the kernel OOM kills of
tasks in the cgroup on an ``oom_kill N`` line. A session that prints the counter, runs
something, and prints it again (``oom_kill 0`` … ``oom_kill 1``) shows the kernel killed
that many tasks in between. The counter says nothing of which limit was hit (a machine-wide
OOM kill of a task in the cgroup counts too) nor of the pid: KERNEL_OOM_UNKNOWN_SCOPE, one
event per kill counted, at most :data:`MAX_EVENTS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence

MAX_EVENTS = 100
"""Kills read from one rise of the counter at most (a counter can jump by millions)."""
_COUNTER = re.compile(r"^\s*oom_kill (?P<n>\d{1,18})\s*$")


class OomKillCounterParser:
    """``oom_kill N`` lines of one input (see module doc)."""

    anchors: tuple[str, ...] = ("oom_kill ",)

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._last: tuple[int, Evidence] | None = None

    @property
    def wants_context(self) -> bool:
        """Never."""
        return False

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line; a rise of the counter since its last value is that many kills."""
        m = _COUNTER.match(line)
        if m is None:
            return ()
        now, ev = int(m["n"]), Evidence(line.strip(), self.path, lineno)
        before, self._last = self._last, (now, ev)
        if before is None or now <= before[0]:
            return ()
        rise = now - before[0]
        event = KillEvent(
            cause=Cause.KERNEL_OOM_UNKNOWN_SCOPE,
            source="cgroup",
            reason="oom_kill counter",
            message=f"the cgroup's oom_kill counter rose from {before[0]} to {now}",
            evidence=(before[1], ev),
        )
        return [event] * min(rise, MAX_EVENTS)

    def finish(self) -> Iterable[KillEvent]:
        """Nothing is held."""
        return ()
