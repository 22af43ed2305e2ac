"""facebookincubator/oomd kill records (``USERSPACE_OOM_OTHER``).

Formats, from oomd's ``BaseKillPlugin.cpp``::

    Trying to kill /sys/fs/cgroup/system.slice/orders.service
    Killed 2: 4242(orders) 4243(orders)
    oomd kill: 0.52 0.40 0.31 system.slice/orders.service 734003200 ruleset:[protect] detectorgroup:[pressure] killer:kill_by_memory_size_or_growth v2

``Killed N:`` lists the pids it sent SIGKILL (a pid followed by ``[E<errno>]`` was not
killed); the kmsg ``oomd kill:`` record gives the cgroup and its usage in bytes.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence

_TRYING = re.compile(r"Trying to kill (?P<cgroup>/\S+)")
# Bounded repeats, and the pid list is matched once, after the last "Killed N:" of the line
# (a search from every "Killed" would walk the rest of the line each time: quadratic).
_KILLED_AT = re.compile(r"\bKilled (?P<n>\d{1,10}):")
_PIDS = re.compile(r"(?P<pids>(?: \d{1,10}(?:\([^)]{0,64}\))?(?:\[E\d{1,5}\])?)+)\s*")
_PID = re.compile(r" (?P<pid>\d{1,10})(?:\((?P<comm>[^)]{0,64})\))?(?P<err>\[E\d{1,5}\])?")
_KMSG = re.compile(
    r"oomd kill: (?:[\d.]{1,32} ){3}(?P<cgroup>\S{1,4096}) (?P<usage>\d{1,20}) "
    r"ruleset:\[(?P<ruleset>[^\]]{0,256})\]"
)


def _killed_pids(line: str) -> re.Match[str] | None:
    """The pid list of a ``Killed N: pid(comm) …`` line, or None."""
    last = deque(_KILLED_AT.finditer(line), maxlen=1)
    return _PIDS.fullmatch(line, last[0].end()) if last else None


class OomdParser:
    """A :class:`~killproof.sources.lines.LineParser` for oomd's kill lines."""

    anchors: tuple[str, ...] = ("Trying to kill /", "Killed ", "oomd kill: ")

    def __init__(self, path: str) -> None:
        self._path = path
        self._cgroup: str | None = None

    @property
    def wants_context(self) -> bool:
        """oomd's records are single lines."""
        return False

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Events for the pids a ``Killed N:`` line killed, or the cgroup of a kmsg record."""
        evidence = (Evidence(line.strip(), self._path, lineno),)
        if m := _TRYING.search(line):
            self._cgroup = m["cgroup"].removeprefix("/sys/fs/cgroup")
            return ()
        if m := _KMSG.search(line):
            cgroup = "/" + m["cgroup"].lstrip("/")
            return (
                KillEvent(
                    cause=Cause.USERSPACE_OOM_OTHER,
                    source="oomd",
                    task_memcg=cgroup,
                    usage_kb=int(m["usage"]) // 1024,
                    message=f"oomd ruleset {m['ruleset']}",
                    evidence=evidence,
                ),
            )
        if (m := _killed_pids(line)) and self._cgroup is not None:
            events = [
                KillEvent(
                    cause=Cause.USERSPACE_OOM_OTHER,
                    source="oomd",
                    killed=p["err"] is None,
                    pid=int(p["pid"]),
                    process=p["comm"],
                    task_memcg=self._cgroup,
                    evidence=evidence,
                )
                for p in _PID.finditer(m["pids"])
            ]
            self._cgroup = None
            return events
        return ()

    def finish(self) -> Iterable[KillEvent]:
        """Nothing is left open at the end of input."""
        return ()
