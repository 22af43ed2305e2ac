"""earlyoom log lines (every generation, ≤1.0 → 1.9) → :class:`KillEvent` (a LineParser).

earlyoom logs that it *sends* a signal; only ``process N exited after T seconds`` proves the
process died. So a victim line opens an attempt, and:

* ``process N exited after …`` closes it as ``killed=True`` (cause EARLYOOM);
* ``process N did not exit`` / ``kill failed: …`` close it as ``killed=False``;
* ``escalating to SIGKILL`` turns the open attempt's signal into SIGKILL;
* ``process exited after …`` with no pid (1.3–1.6) confirms the newest attempt;
* an attempt with no confirmation by the end of the input stays ``killed=False``, except
  before 1.0: ``Killing process N name`` was a SIGKILL sent at once (only a failure was
  logged), so it is a death unless ``kill failed`` follows;
* v0.x ``Out of memory! avail: …`` with no victim line after it (a cut log) and ``Could not
  find a process to kill`` are earlyoom events with no victim, ``killed=False``.

``anon_rss_kb`` is earlyoom's ``VmRSS`` converted from MiB (it counts file and shmem pages
too, so it is an upper bound of the anonymous RSS).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence
from killproof.sources.journal import split_journal_line

_SIGNALS = {"9": "SIGKILL", "15": "SIGTERM"}
# ≤1.0 (kill.c: fprintf(stderr, "Killing process %d %s\n", …), the name read from
# /proc/PID/stat with or without its parentheses): Killing process 5874 (bash)
# (Names and numbers have bounded repeats and nothing lazy precedes "\s*$": a search over a
# long line stays linear. _V0 is matched against the line without its trailing blanks.)
_V0 = re.compile(r"^Killing process (?P<pid>\d{1,10}) \(?(?P<name>[^()]+)\)?$")
# ≈1.1: Killing process 'bash' with signal 15, pid: 5874, badness: 538, VmRSS: 3160 MiB
_V1 = re.compile(
    r"Killing process '(?P<name>.{0,64})' with signal (?P<sig>\d{1,3}), pid: (?P<pid>\d{1,10})(?!\d)"
    r"(?:, badness: (?P<badness>-?\d{1,10})(?!\d))?(?:, VmRSS: (?P<rss>\d{1,15}) MiB)?"
)
# ≈1.2: killing process 27541 "bash" with signal 15: badness 550, VmRSS 7609 MiB
_V2 = re.compile(
    r"killing process (?P<pid>\d{1,10}) \"(?P<name>.{0,64})\" with signal (?P<sig>\d{1,3})(?!\d)"
    r"(?:: badness (?P<badness>-?\d{1,10})(?!\d))?(?:, VmRSS (?P<rss>\d{1,15}) MiB)?"
)
# ≈1.3–1.9: sending SIGTERM to process 29410 uid 1000 "cluster": badness 1264, VmRSS 23964 MiB
#           (1.3–1.5 print no uid: sending SIGTERM to process 12006 "python3": badness 209, …)
#           sending SIGKILL to process N uid U "x": oom_score S, oom_score_adj A, VmRSS M MiB, …
_V3 = re.compile(
    r"sending (?P<sig>SIG[A-Z]{1,8}) to process (?P<pid>\d{1,10}) (?:uid (?P<uid>\d{1,10}) )?"
    r"\"(?P<name>.{0,64}?)\":(?: badness (?P<badness>-?\d{1,10}),)?"
    r"(?: oom_score (?P<score>-?\d{1,10}),)?(?: oom_score_adj (?P<adj>-?\d{1,10}),)?"
    r" VmRSS (?P<rss>\d{1,15}) MiB"
)
_EXITED = re.compile(r"process (?:(?P<pid>\d{1,10}) )?exited after (?P<secs>[\d.]{1,20}) seconds")
# v0.x found nothing to kill (it then exits with status 9, an exit code, not a signal).
_NOTHING = "Could not find a process to kill"
# v0.x: "Out of memory! avail: 0 MiB < min: 587 MiB" precedes its "Killing process" line.
_TRIGGER = "Out of memory! avail: "
_NOT_EXITED = re.compile(r"process (?P<pid>\d{1,10}) did not exit")
_FAILED = re.compile(r"kill failed: (?P<why>.*)")
_ESCALATE = "escalating to SIGKILL"

MAX_OPEN = 256
"""Attempts held open for their confirmation at most (the oldest is released unconfirmed)."""

ANCHORS = (
    "Killing process ",
    "killing process ",
    "sending SIG",
    "exited after",
    "did not exit",
    "kill failed",
    _ESCALATE,
    _NOTHING,
    _TRIGGER,
)


class EarlyoomParser:
    """Streaming parser of earlyoom's log (see module doc)."""

    anchors: tuple[str, ...] = ANCHORS

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._open: dict[int, KillEvent] = {}
        self._last: int | None = (
            None  # pid of the newest attempt (escalation/failure lines name none)
        )
        self._trigger: Evidence | None = None  # a v0.x "Out of memory!" not yet followed

    @property
    def wants_context(self) -> bool:
        """Never: every line this parser needs carries an anchor."""
        return False

    def _close(self, pid: int, killed: bool, ev: Evidence, note: str) -> list[KillEvent]:
        attempt = self._open.pop(pid, None)
        if self._last == pid:
            self._last = None
        if attempt is None:
            if not killed:
                return []
            # The confirmation survived but the victim line did not (log cut): still a death.
            return [
                KillEvent(
                    cause=Cause.EARLYOOM, source="earlyoom", pid=pid, message=note, evidence=(ev,)
                )
            ]
        return [attempt.with_changes(killed=killed, message=note, evidence=(*attempt.evidence, ev))]

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line; return the attempts it confirms or refutes (and, past
        :data:`MAX_OPEN` open attempts, the oldest one unconfirmed: memory stays bounded)."""
        out = list(self._feed(lineno, line))
        while len(self._open) > MAX_OPEN:
            oldest = next(iter(self._open))
            out.append(self._open.pop(oldest))
            if self._last == oldest:
                self._last = None
        return out

    def _feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        jl = split_journal_line(line)
        text = jl.text
        ev = Evidence(line.strip(), self.path, lineno)
        out: list[KillEvent] = []
        if _TRIGGER in text and jl.ident not in ("systemd", "kernel"):
            out += self._untriggered()
            self._trigger = ev
            return out
        v0 = _V0.match(text.rstrip())
        m = _V3.search(text) or _V2.search(text) or _V1.search(text) or v0
        if m and jl.ident not in ("systemd", "kernel"):
            trigger, self._trigger = self._trigger, None
            pid = int(m["pid"])
            if pid in self._open:  # a second signal to the same pid: the first did not work
                out += self._close(pid, False, ev, "earlyoom signalled it again")
            groups = m.groupdict()
            raw_sig = groups.get("sig")
            sig = None if raw_sig is None else _SIGNALS.get(raw_sig, raw_sig)
            adj = groups.get("adj")
            uid = groups.get("uid")
            self._open[pid] = KillEvent(
                cause=Cause.EARLYOOM,
                source="earlyoom",
                killed=False,
                pid=pid,
                process=m["name"],
                anon_rss_kb=int(groups["rss"]) * 1024 if groups.get("rss") else None,
                oom_score_adj=int(adj) if adj else None,
                signal=sig,
                reason="earlyoom" + (f" (uid {uid})" if uid else ""),
                message="earlyoom sent the signal; no confirmation in the log",
                time=jl.time,
                epoch_s=jl.epoch_s,
                uptime_s=jl.uptime_s,
                host=jl.host,
                evidence=(ev,) if trigger is None else (trigger, ev),
            )
            if m is v0:
                # v0.x sent SIGKILL straight away (kill(pid, SIGKILL)) and logged only a failure:
                # a kill it did not report failing is a death.
                self._open[pid] = self._open[pid].with_changes(
                    killed=True, signal="SIGKILL", message="earlyoom (before 1.0) sent SIGKILL"
                )
            self._last = pid
            return out
        if _NOTHING in text:
            out += self._untriggered(required=False)
            return [
                *out,
                KillEvent(
                    cause=Cause.EARLYOOM,
                    source="earlyoom",
                    killed=False,
                    message="earlyoom found no process to kill",
                    time=jl.time,
                    epoch_s=jl.epoch_s,
                    host=jl.host,
                    evidence=(ev,),
                ),
            ]
        if e := _EXITED.search(text):
            confirmed = int(e["pid"]) if e["pid"] else self._last  # 1.3–1.6 name no pid
            if confirmed is None:
                return ()
            return self._close(confirmed, True, ev, f"exited {e['secs']} s after the signal")
        if n := _NOT_EXITED.search(text):
            return self._close(int(n["pid"]), False, ev, "earlyoom reports it did not exit")
        if (f := _FAILED.search(text)) and self._last is not None:
            return self._close(self._last, False, ev, f"the kill failed: {f['why'].strip()}")
        if _ESCALATE in text and self._last is not None:
            attempt = self._open[self._last]
            self._open[self._last] = attempt.with_changes(
                signal="SIGKILL", evidence=(*attempt.evidence, ev)
            )
        return ()

    def _untriggered(self, required: bool = True) -> list[KillEvent]:
        """A v0.x "Out of memory!" that no victim line followed (the log was cut): an
        earlyoom event whose victim is unknown; dropped when ``required`` is False."""
        trigger, self._trigger = self._trigger, None
        if trigger is None or not required:
            return []
        return [
            KillEvent(
                cause=Cause.EARLYOOM,
                source="earlyoom",
                killed=False,
                message="earlyoom found memory low; its victim line is not in the log",
                evidence=(trigger,),
            )
        ]

    def finish(self) -> Iterable[KillEvent]:
        """Attempts never confirmed stay attempts."""
        out = self._untriggered() + list(self._open.values())
        self._open.clear()
        self._last = None
        return out
