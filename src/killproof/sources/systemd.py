"""systemd and systemd-oomd journal lines → :class:`KillEvent` (a streaming LineParser).

What each line proves, and nothing more (the merger joins lines of one death):

* ``State 'stop-sigterm' timed out. Killing.`` then ``Killing process N (x) with signal
  SIGKILL.`` — systemd SIGKILLed pid N after the stop timeout (SYSTEMD_STOP_TIMEOUT, one
  event per SIGKILLed pid; the main process is killed first, so the first one carries the
  unit's ``Main process exited`` / ``Failed with result`` lines as evidence).
* ``Stopping timed out. Terminating.`` (and the ≈2017 ``x.service stopping timed out.
  Terminating.``) — systemd sent SIGTERM after a stop timeout. SIGTERM can be handled, so
  this is ``killed=False`` unless the unit then reports ``code=killed, status=15/TERM``.
* ``Main process exited, code=killed, status=9/KILL`` on its own — SIGKILL from an unknown
  sender (SIGKILL_UNKNOWN); ``status=15/TERM`` is the same with ``signal="SIGTERM"``.
* ``Failed with result 'oom-kill'`` / ``A process of this unit has been killed by the OOM
  killer.`` — the kernel OOM killer killed a process of the unit: KERNEL_OOM_UNKNOWN_SCOPE
  (the line says neither which limit nor which pid).
* systemd-oomd ``Killed <cgroup> due to …``, ``<unit>: systemd-oomd killed N process(es)``
  (killed) and ``Marked <cgroup> for killing``, ``oomd attempting to kill PID with KILL``
  (decisions/attempts, ``killed=False``) — SYSTEMD_OOMD; pid only where a line names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence, counted
from killproof.sources.journal import JournalLine, split_journal_line

_UNIT_SUFFIX = r"(?:service|scope|socket|mount|swap|slice|timer|path|target|device|automount)"
_UNIT_PREFIX = re.compile(
    rf"^(?:Unit )?[`'\"]?(?P<unit>[^\s:`'\"]+\.{_UNIT_SUFFIX}):?\s+(?P<msg>.*)$"
)
_STOP_KILL = re.compile(
    r"(?:State '(?P<state>[\w-]+)' timed out|[Ss]topping timed out)\. Killing\."
)
_STOP_TERM = re.compile(
    r"(?:State '(?P<state>[\w-]+)' timed out|[Ss]topping timed out)\. Terminating\."
)
# Names and numbers have bounded repeats, so a search over a long line stays linear.
_KILLING = re.compile(
    r"Killing process (?P<pid>\d{1,10}) \((?P<comm>.{0,64})\) with signal SIG(?P<sig>[A-Z0-9]{1,8})"
)
_MAIN_EXIT = re.compile(
    r"[Mm]ain process exited, code=(?P<code>\w{1,16}), status=(?P<status>\d{1,10})(?!\d)"
    r"(?:/(?P<name>[A-Z0-9]{1,8}))?"
)
_RESULT = re.compile(r"[Ff]ailed with result '(?P<result>[\w-]+)'")
_OOM_UNIT = "has been killed by the OOM killer"
_OOMD_KILLED = re.compile(r"^Killed (?P<cg>/\S*)(?: due to (?P<why>.+?))?\.?$")
_OOMD_MARKED = re.compile(r"^Marked (?P<cg>/\S*) for killing due to (?P<why>.+?)\.?$")
_OOMD_PRESSURE = re.compile(r"memory pressure for (?P<mon>/\S*) being")
_OOMD_PID = re.compile(r"oomd attempting to kill (?P<pid>\d{1,10}) with (?P<sig>[A-Z0-9]{1,8})")
_CHILD = re.compile(
    r"Child (?P<pid>\d{1,10}) \((?P<comm>.{0,64}?)\) died \(code=killed, status=9/KILL\)"
)
_BELONGS = re.compile(r"Child (?P<pid>\d{1,10}) belongs to (?P<unit>\S{1,256}?)\.?$")
_SURVIVED = ("Processes still around after", "remains running after unit stopped")
_OOMD_UNIT = re.compile(r"systemd-oomd killed (?P<n>\d{1,10}) process\(es\) in this unit")


def _processes(digits: str) -> str:
    """``1 process``, ``2 processes`` (the count as systemd printed it)."""
    return counted(int(digits), "process", "processes")


# How specific a unit-side line is about the killer (see SystemdParser._death).
_RANK = {Cause.SIGKILL_UNKNOWN: 0, Cause.KERNEL_OOM_UNKNOWN_SCOPE: 1, Cause.SYSTEMD_OOMD: 2}

MAX_OPEN_UNITS = 256
"""Units with a stop timeout or a death waiting for more lines, at most."""

ANCHORS = (
    "timed out. Killing",
    "timed out. Terminating",
    "Killing process",
    "ain process exited",
    "ailed with result",
    "killed by the OOM killer",
    "Killed /",
    "for killing",
    "oomd attempting to kill",
    "systemd-oomd killed",
    "died (code=killed, status=9/KILL)",
    " belongs to ",
    *_SURVIVED,
)


def _contains(slice_unit: str, unit: str) -> bool:
    """True when slice ``slice_unit`` is an ancestor of ``unit`` by systemd's naming: ``-.slice``
    holds everything, ``a.slice`` holds ``a-b.slice`` (and what that holds), and
    ``user-N.slice`` holds ``user@N.service`` and the user's session scopes."""
    if not slice_unit.endswith(".slice") or slice_unit == unit:
        return False
    stem = slice_unit.removesuffix(".slice")
    if stem == "-":
        return True
    if unit.endswith(".slice") and unit.startswith(stem + "-"):
        return True
    uid = stem.removeprefix("user-")
    return stem.startswith("user-") and unit in (
        f"user@{uid}.service",
        f"user-runtime-dir@{uid}.service",
    )


def _second(time: str | None) -> str | None:
    """The timestamp cut to the second (systemd repeats an OOM notice on every parent slice
    within the same second)."""
    return time.split(".", 1)[0] if time else None


def _unit_of_cgroup(path: str) -> str | None:
    """The unit a cgroup path ends in (``…/app-x.scope`` → ``app-x.scope``), if any."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last if re.fullmatch(rf"[^\s/]+\.{_UNIT_SUFFIX}", last) else None


@dataclass
class _StopRecord:
    """A stop timeout of one unit, open until the unit's result line (mutable parse state)."""

    first: KillEvent
    signal: str
    killed: list[KillEvent] = field(default_factory=list)
    tail: list[Evidence] = field(default_factory=list)
    main_code: str | None = None
    main_signal: str | None = None
    survived: bool = False
    """systemd said processes were still around after the SIGKILL: nothing died."""
    tentative: bool = False
    """Opened by a SIGKILL line, not by a "timed out" line: a stop timeout only when the
    result is 'timeout' (else no event: the lines are reported as not understood)."""
    result: str | None = None

    def close(self) -> list[KillEvent]:
        """The finished events (see :meth:`_close_all`); none for a tentative record whose
        result is not 'timeout' (systemd's SIGKILL for a reason the log does not give)."""
        if self.tentative and self.result != "timeout":
            return []  # said as not understood (killwords), not guessed
        return self._close_all()

    def _close_all(self) -> list[KillEvent]:
        """The finished events: one per SIGKILLed pid, or one without pid."""
        if not self.killed:
            event = self.first
            if self.signal == "SIGTERM":
                # A SIGTERM can be handled: only "code=killed, status=15" proves the death.
                confirmed = self.main_code == "killed"
                event = event.with_changes(
                    killed=confirmed,
                    signal=self.main_signal or "SIGTERM",
                    message=(
                        "systemd sent SIGTERM after the stop timeout"
                        + (
                            "; the main process died from it"
                            if confirmed
                            else "; the log does not show the process died from it"
                        )
                    ),
                )
            return [event.with_changes(evidence=event.evidence + tuple(self.tail))]
        # The same pid SIGKILLed again (stop-sigterm, then final-sigterm) is one victim.
        victims: dict[int | None, KillEvent] = {}
        for ev in self.killed:
            held = victims.get(ev.pid)
            victims[ev.pid] = (
                ev
                if held is None
                else held.with_changes(evidence=(*held.evidence, *ev.evidence[1:]))
            )
        out = list(victims.values())
        out[0] = out[0].with_changes(evidence=out[0].evidence + tuple(self.tail))
        if self.survived:
            note = "systemd's SIGKILL did not kill it: processes were still around after it"
            out = [ev.with_changes(killed=False, message=note) for ev in out]
        return out


class SystemdParser:
    """Streaming parser of systemd and systemd-oomd journal lines (see module doc)."""

    anchors: tuple[str, ...] = ANCHORS

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._open: dict[str, _StopRecord] = {}
        self._deaths: dict[str, KillEvent] = {}
        self._children: dict[int, KillEvent] = {}  # "Child N died" not yet given a unit
        self._attempts: dict[int, KillEvent] = {}  # "oomd attempting to kill N", unconfirmed
        self._marked: dict[str, list[int]] = {}  # unit → attempted pids oomd marked it for
        self._oom_units: dict[str, str | None] = {}  # units with an OOM notice → its second

    @property
    def wants_context(self) -> bool:
        """Never: every line this parser needs carries an anchor."""
        return False

    def _base(self, jl: JournalLine, lineno: int, raw: str, **fields: object) -> KillEvent:
        source = "systemd-oomd" if jl.ident == "systemd-oomd" else "systemd"
        return KillEvent(
            source=source,
            time=jl.time,
            epoch_s=jl.epoch_s,
            uptime_s=jl.uptime_s,
            host=jl.host,
            evidence=(Evidence(raw.strip(), self.path, lineno),),
            **fields,  # type: ignore[arg-type]
        )

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line; return the events it completes (and, past :data:`MAX_OPEN_UNITS`
        units with an open record, the oldest one as it stands: memory stays bounded)."""
        out = list(self._feed(lineno, line))
        while len(self._open) > MAX_OPEN_UNITS:
            out += self._close(next(iter(self._open)))
        while len(self._deaths) > MAX_OPEN_UNITS:
            out.append(self._deaths.pop(next(iter(self._deaths))))
        for held in (self._children, self._attempts):
            while len(held) > MAX_OPEN_UNITS:
                out.append(held.pop(next(iter(held))))
        while len(self._marked) > MAX_OPEN_UNITS:
            self._marked.pop(next(iter(self._marked)))
        return out

    def _feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        jl = split_journal_line(line)
        text = jl.text
        unit: str | None = None
        m = _UNIT_PREFIX.match(text)
        if m:
            unit, text = m["unit"], m["msg"]
        ev = Evidence(line.strip(), self.path, lineno)
        if jl.ident == "systemd-oomd" or text.startswith(("Killed /", "Marked /", "oomd ")):
            return self._oomd(jl, text, lineno, line)
        if c := _CHILD.search(text):
            # systemd's debug log: a child of PID 1 reaped after SIGKILL (sender unknown).
            self._children[int(c["pid"])] = self._base(
                jl,
                lineno,
                line,
                cause=Cause.SIGKILL_UNKNOWN,
                pid=int(c["pid"]),
                process=c["comm"],
                signal="SIGKILL",
                reason="code=killed, status=9/KILL",
                message="the process died from SIGKILL; the log does not say who sent it",
            )
            return ()
        if (b := _BELONGS.search(text)) and int(b["pid"]) in self._children:
            child = self._children.pop(int(b["pid"]))
            child = child.with_changes(unit=b["unit"], evidence=(*child.evidence, ev))
            self._death(b["unit"], ev, None, child)
            return ()
        if unit is None:
            return ()
        if text.startswith(_SURVIVED):
            if (held := self._open.get(unit)) is not None:
                held.survived = True
                held.tail.append(ev)
            return ()
        out: list[KillEvent] = []
        if s := _STOP_KILL.search(text) or _STOP_TERM.search(text):
            held = self._open.get(unit)
            if held is not None and held.killed and s.re is _STOP_KILL:
                held.tail.append(ev)  # final-sigterm after stop-sigterm: the same stop
                held.tentative = False
                return out
            out += self._close(unit)
            sig = "SIGKILL" if s.re is _STOP_KILL else "SIGTERM"
            first = self._base(
                jl,
                lineno,
                line,
                cause=Cause.SYSTEMD_STOP_TIMEOUT,
                unit=unit,
                signal=sig,
                reason=f"stop timeout ({s['state'] or 'stop'})",
            )
            self._open[unit] = _StopRecord(first, sig)
            return out
        record = self._open.get(unit)
        if k := _KILLING.search(text):
            sig = f"SIG{k['sig']}"
            if record is None and sig == "SIGKILL":
                # A SIGKILL list whose "timed out" line is not in the excerpt: a stop timeout
                # only if the unit's result says 'timeout' (see _StopRecord.tentative).
                first = self._base(
                    jl,
                    lineno,
                    line,
                    cause=Cause.SYSTEMD_STOP_TIMEOUT,
                    unit=unit,
                    signal=sig,
                    reason="stop timeout",
                )
                record = self._open[unit] = _StopRecord(first, sig, tentative=True)
            if record is not None and sig == "SIGKILL":
                record.killed.append(
                    record.first.with_changes(
                        pid=int(k["pid"]),
                        process=k["comm"],
                        signal=sig,
                        evidence=(*record.first.evidence, ev),
                    )
                )
            return out
        if me := _MAIN_EXIT.search(text):
            main_sig = f"SIG{me['name']}" if me["name"] else None
            if record is not None:
                record.tail.append(ev)
                record.main_code, record.main_signal = me["code"], main_sig
            elif me["code"] == "killed" and main_sig == "SIGKILL":
                if self._oomd_confirms(unit, jl.time, ev):
                    return out
                self._death(unit, ev, main_sig, self._signal_death(jl, lineno, line, unit, me))
            return out
        if r := _RESULT.search(text):
            if record is not None:
                record.result = r["result"]
                record.tail.append(ev)
                return self._close(unit)
            if r["result"] == "oom-kill":
                self._death(unit, ev, None, self._oom_death(jl, lineno, line, unit, "oom-kill"))
            pending = self._deaths.pop(unit, None)
            return [pending] if pending else []
        if _OOM_UNIT in text:
            if unit in self._deaths and self._deaths[unit].cause is not Cause.SIGKILL_UNKNOWN:
                out.append(self._deaths.pop(unit))  # a second OOM kill in the same unit
            oom = self._oom_death(jl, lineno, line, unit, "killed by the OOM killer")
            self._oom_units[unit] = _second(jl.time)
            while len(self._oom_units) > MAX_OPEN_UNITS:
                self._oom_units.pop(next(iter(self._oom_units)))
            self._death(unit, ev, None, oom)
        elif o := _OOMD_UNIT.search(text):
            marked = [p for p in self._marked.pop(unit, []) if p in self._attempts]
            if marked:
                # systemd confirms the kills systemd-oomd announced for this unit.
                for pid in marked:
                    done = self._attempts.pop(pid)
                    out.append(
                        done.with_changes(
                            killed=True,
                            message=f"systemd-oomd killed {_processes(o['n'])} in this unit",
                            evidence=(*done.evidence, ev),
                        )
                    )
                return out
            oomd = self._base(
                jl,
                lineno,
                line,
                cause=Cause.SYSTEMD_OOMD,
                unit=unit,
                reason="systemd-oomd",
                message=f"systemd-oomd killed {_processes(o['n'])} in this unit",
            )
            self._death(unit, ev, None, oomd)
        return out

    def _death(self, unit: str, ev: Evidence, signal: str | None, fresh: KillEvent) -> None:
        """Fold one more line of a unit's death into its pending event.

        ``Main process exited, code=killed`` names the signal; ``A process of this unit has
        been killed by the OOM killer`` and ``systemd-oomd killed N process(es)`` name the
        killer; ``Failed with result 'oom-kill'`` says "an OOM killer" (the kernel's, or
        systemd-oomd's since systemd 251). The most specific statement wins.
        """
        pending = self._deaths.get(unit)
        if pending is None:
            self._deaths[unit] = fresh
            return
        evidence = (*pending.evidence, ev)
        if _RANK[fresh.cause] > _RANK[pending.cause]:
            self._deaths[unit] = fresh.with_changes(signal=pending.signal, evidence=evidence)
        else:
            self._deaths[unit] = pending.with_changes(
                signal=pending.signal or signal, evidence=evidence
            )

    def _signal_death(
        self, jl: JournalLine, lineno: int, raw: str, unit: str, me: re.Match[str]
    ) -> KillEvent:
        what = "SIGKILL" if me["name"] == "KILL" else "SIGTERM (not SIGKILL)"
        return self._base(
            jl,
            lineno,
            raw,
            cause=Cause.SIGKILL_UNKNOWN,
            unit=unit,
            signal=f"SIG{me['name']}",
            reason=f"code=killed, status={me['status']}/{me['name']}",
            message=f"the unit's main process died from {what}; the line does not say who sent it",
        )

    def _oom_death(self, jl: JournalLine, lineno: int, raw: str, unit: str, why: str) -> KillEvent:
        return self._base(
            jl,
            lineno,
            raw,
            cause=Cause.KERNEL_OOM_UNKNOWN_SCOPE,
            unit=unit,
            reason=why,
            message="the kernel OOM killer killed a process of this unit; the line names "
            "neither the pid nor which limit was hit"
            + (
                " (since systemd 251 this result also follows systemd-oomd kills)"
                if why == "oom-kill"
                else ""
            ),
        )

    def _oomd(self, jl: JournalLine, text: str, lineno: int, raw: str) -> list[KillEvent]:
        if p := _OOMD_PID.search(text):
            # Held until a line says whether it died: "Killed <cgroup>", the unit's
            # "systemd-oomd killed N process(es)", or its main process exiting 9/KILL.
            self._attempts[int(p["pid"])] = self._base(
                jl,
                lineno,
                raw,
                cause=Cause.SYSTEMD_OOMD,
                killed=False,
                pid=int(p["pid"]),
                signal=f"SIG{p['sig']}",
                reason="systemd-oomd",
                message="systemd-oomd is about to send the signal (an attempt, not proof)",
            )
            return []
        m = _OOMD_KILLED.match(text) or _OOMD_MARKED.match(text)
        if m is None:
            return []
        why = m["why"] or ""
        mon = _OOMD_PRESSURE.search(why)
        marked = m.re is _OOMD_MARKED
        unit = _unit_of_cgroup(m["cg"])
        ev = Evidence(raw.strip(), self.path, lineno)
        pending = [a for a in self._attempts.values() if a.unit is None]
        if pending:
            tagged = [
                a.with_changes(unit=unit, task_memcg=m["cg"], evidence=(*a.evidence, ev))
                for a in pending
            ]
            if marked:
                for a in tagged:
                    self._attempts[a.pid or 0] = a
                self._marked.setdefault(unit or m["cg"], []).extend(a.pid or 0 for a in tagged)
                return []
            for a in tagged:
                self._attempts.pop(a.pid or 0, None)
            note = "systemd-oomd killed the cgroup" + (f" due to {why}" if why else "")
            return [a.with_changes(killed=True, message=note) for a in tagged]
        return [
            self._base(
                jl,
                lineno,
                raw,
                cause=Cause.SYSTEMD_OOMD,
                killed=not marked,
                unit=unit,
                task_memcg=m["cg"],
                oom_memcg=mon["mon"] if mon else None,
                signal="SIGKILL",
                reason="systemd-oomd",
                message=("marked the cgroup for killing" if marked else "killed the cgroup")
                + (f" due to {why}" if why else "")
                + (
                    " (current systemd logs only this decision; the unit's own "
                    "'systemd-oomd killed N process(es)' line confirms the kill)"
                    if marked
                    else ""
                ),
            )
        ]

    def _oomd_confirms(self, unit: str, time: str | None, ev: Evidence) -> bool:
        """A unit's main process exiting 9/KILL in the same second as a systemd-oomd
        attempt is that attempt's death: the attempt becomes a kill (True) instead of a
        separate SIGKILL of unknown sender."""
        for pid, attempt in reversed(self._attempts.items()):
            if attempt.unit in (None, unit) and attempt.time == time and time is not None:
                self._attempts[pid] = attempt.with_changes(
                    killed=True,
                    unit=unit,
                    message="systemd-oomd sent SIGKILL; the unit's main process died of it",
                    evidence=(*attempt.evidence, ev),
                )
                return True
        return False

    def _close(self, unit: str) -> list[KillEvent]:
        record = self._open.pop(unit, None)
        return record.close() if record else []

    def finish(self) -> Iterable[KillEvent]:
        """Close every open stop timeout."""
        out: list[KillEvent] = []
        for unit in list(self._open):
            out += self._close(unit)
        # The kernel's kill reported on the unit and again on each parent slice: one death.
        out += [
            death
            for unit, death in self._deaths.items()
            if not (
                death.cause is Cause.KERNEL_OOM_UNKNOWN_SCOPE
                and any(
                    _contains(unit, other) and second == _second(death.time)
                    for other, second in self._oom_units.items()
                )
            )
        ]
        out += self._children.values()
        out += self._attempts.values()
        self._deaths.clear()
        self._children.clear()
        self._attempts.clear()
        self._marked.clear()
        return out
