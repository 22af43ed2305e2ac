"""Other userspace OOM killers → :class:`KillEvent` (a LineParser).

* Android's lmkd (tag ``lowmemorykiller``): ``Kill 'app' (pid), uid U, oom_score_adj A to
  free N kB rss, …`` (older: ``Killing 'app' (pid), …``) — a SIGKILL it sent; lmkd logs
  after ``kill()`` succeeded, so it is a death. The ``rss`` it prints is the whole resident
  set, not anon-rss, so it is not reported as anon-rss.
* Zygote's ``Process N exited due to signal 9 (Killed)``: a SIGKILL death, sender unknown
  (it joins lmkd's kill of the same pid in the merge).
* Talos' userspace OOM controller (``runtime.OOMController``): ``[talos] Sending SIGKILL to
  cgroup …`` kills every process of a cgroup; the victim is the cgroup, no pid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence

_LMKD = re.compile(
    r"lowmemorykiller\s*:\s*Kill(?:ing)? '(?P<name>[^']{1,255})' \((?P<pid>\d{1,10})\)"
    r"(?:, uid (?P<uid>\d{1,10}))?(?:, oom_?score_?adj:? (?P<adj>-?\d{1,5}))?"
)
_ZYGOTE = re.compile(r"Process (?P<pid>\d{1,10}) exited due to signal 9\b")
_TALOS = "[talos] Sending SIGKILL to cgroup"
_TALOS_CGROUP = re.compile(
    r"(?:\"cgroup\": ?\"(?P<json>[^\"]{1,4096})\"|cgroup (?P<text>/\S{1,4096}))"
)


class UserspaceKillerParser:
    """lmkd, Zygote and Talos lines (see module doc)."""

    anchors: tuple[str, ...] = ("lowmemorykiller", "exited due to signal 9", _TALOS)

    def __init__(self, path: str = "") -> None:
        self.path = path

    @property
    def wants_context(self) -> bool:
        """Never: each line stands alone."""
        return False

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line; return the death it states."""
        ev = Evidence(line.strip(), self.path, lineno)
        if m := _LMKD.search(line):
            return [
                KillEvent(
                    cause=Cause.USERSPACE_OOM_OTHER,
                    source="lmkd",
                    pid=int(m["pid"]),
                    process=m["name"],
                    oom_score_adj=int(m["adj"]) if m["adj"] else None,
                    signal="SIGKILL",
                    reason="lmkd",
                    message="Android's low memory killer daemon sent SIGKILL",
                    evidence=(ev,),
                )
            ]
        if z := _ZYGOTE.search(line):
            return [
                KillEvent(
                    cause=Cause.SIGKILL_UNKNOWN,
                    source="android",
                    pid=int(z["pid"]),
                    signal="SIGKILL",
                    message="Zygote saw the process die of signal 9; the sender is not stated",
                    evidence=(ev,),
                )
            ]
        if _TALOS in line:
            c = _TALOS_CGROUP.search(line)
            path = (c["json"] or c["text"]) if c else None
            if path and path.startswith("/sys/fs/cgroup/"):
                path = path[len("/sys/fs/cgroup") :]
            return [
                KillEvent(
                    cause=Cause.USERSPACE_OOM_OTHER,
                    source="talos",
                    signal="SIGKILL",
                    task_memcg=path,
                    reason="Talos OOM controller",
                    message="Talos' userspace OOM controller sent SIGKILL to a whole cgroup",
                    evidence=(ev,),
                )
            ]
        return ()

    def finish(self) -> Iterable[KillEvent]:
        """Nothing is held."""
        return ()
