"""The kernel OOM killer's report, read from a log of any transport, as :class:`KillEvent` values.

:class:`KernelOomParser` is a :class:`~killproof.sources.lines.LineParser`. It groups the lines
of one OOM report (header, dump_stack, memcg block or Mem-Info, task table, ``oom-kill:``
summary, ``Killed process``, ``memory.oom.group`` kills) and turns it into one event per
killed process. ``oom_reaper:`` lines that trail a kill (seconds later since ≈ 5.18) are
attached to the event they belong to as evidence; they never make a new kill.

The victim is only ever taken from ``Killed process`` (or, when that line is lost, from the
``oom-kill:`` summary): never from the header or the ``CPU: … PID:`` line (the allocating
thread, often another thread of the same Go process) and never from ``Kill process … or
sacrifice child`` (only the candidate, reported as ``selected_pid``).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence
from killproof.sources import kernel_lines as kl
from killproof.sources.kernel_report import OpenReport, Victim
from killproof.sources.logwrap import Unwrapped, unwrap

REAPER_WAIT_S = 30.0
"""Seconds (log time) a finished event waits for its ``oom_reaper:`` line."""
REAPER_WAIT_LINES = 20000
"""Lines a finished event waits for its ``oom_reaper:`` line when the log has no time."""
MAX_WAITING = 16
"""Finished events held back for their reaper line at most (memory stays bounded)."""
_ENTRY_STAMP = re.compile(r"(?<=\s)(?=\[\s{0,12}\d{1,10}\.\d{6}\]\s)")
"""Where an entry of a log flattened onto one line starts: a ``[ 51.066596] `` print stamp."""
MIN_FLATTENED_ENTRIES = 3
"""Print stamps inside one line (not at its start) from which it is read as a flattened log
(one stamp inside a line is a console prefix: ``host # [ 16.48] …``)."""
RECENT_VICTIMS = 1024
"""Victim pids remembered after their event left, so a late reaper line makes no new kill."""


class KernelOomParser:
    """Streaming parser of kernel OOM reports (all kernels 2.6.32 → 6.x, any log wrapper).

    ``path`` is only used to cite evidence. Feed it every line, or (through
    :func:`killproof.sources.logscan.scan`) only the lines with an anchor plus the context
    lines it asks for: both give the same events for complete reports.
    """

    # Few and long: each extra or short anchor slows the multi-pattern search of the scan.
    # Every other line of a report is read as context after its header.
    anchors: tuple[str, ...] = (
        "invoked oom-killer: ",
        "Killed process",
        "oom_reaper: ",
        # a report whose header was lost (a partial paste, a grep, a rate-limited dump):
        # "[Oo]ut of memory" selection, no-killable and panic_on_oom lines; the summary; the
        # memcg block; the out_of_memory frame of a stack whose first lines are missing
        "ut of memory",
        "oom-kill:",
        "killed as a result of limit",
        ", failcnt ",
        "Memory cgroup stats for",
        "out_of_memory",
    )

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._report: OpenReport | None = None
        self._waiting: list[tuple[KillEvent, int]] = []
        self._now: float | None = None  # uptime of the latest line that had one (seconds)
        self._recent: deque[int] = deque(maxlen=RECENT_VICTIMS)

    @property
    def wants_context(self) -> bool:
        """True inside a report until its kill lines are read."""
        return self._report is not None and self._report.wants_more

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Read one line; return the events that are now complete."""
        out: list[KillEvent] = []
        for entry in _entries(line):
            self._feed(lineno, entry, out)
        self._release_stale(lineno, out)
        return out

    def finish(self) -> Iterable[KillEvent]:
        """End of input: close the open report and release every held event."""
        out: list[KillEvent] = []
        self._close(out)
        out.extend(event for event, _ in self._waiting)
        self._waiting.clear()
        return out

    # -- internals ---------------------------------------------------------------------

    def _feed(self, lineno: int, line: str, out: list[KillEvent]) -> None:
        wrapped = unwrap(line)
        if wrapped.uptime_s is not None:
            self._now = wrapped.uptime_s
        report = self._report
        if wrapped.ident is not None and not wrapped.ident.startswith("kernel"):
            # another daemon's line interleaved in a journal
            if report is not None:
                report.note_foreign()
                if report.exhausted:
                    self._close(out)
            return
        text = wrapped.text
        evidence = Evidence(line.rstrip("\r\n"), self.path, lineno)

        if report is not None and report.no_killable:
            report.note_next(text)
        if (head := kl.header(text)) is not None:
            if report is not None and report.repeats_header(text):
                return  # the same header twice (a log forwarded to two files, a paste)
            self._close(out)
            self._report = OpenReport.start(head, wrapped, evidence)
            return
        if (victim := kl.killed(text)) is not None:
            if report is not None and report.repeats(victim):
                return  # the same line twice (a log forwarded to two files, a paste)
            if report is not None and report.settled:
                self._close(out)
                report = None
            if report is None:
                report = self._report = OpenReport.headerless(wrapped)
            report.add_victim(Victim(victim, wrapped, evidence, lineno))
            return
        if (reaped := kl.reaped(text)) is not None:
            if report is not None and (report.victims or not report.wants_more):
                self._close(out)
            if not self._attach_reaper(reaped, evidence, out) and reaped.pid not in self._recent:
                # the reaper line alone (the report was cut or grepped away): the kernel's
                # OOM killer killed this pid, in a scope the excerpt does not show
                self._recent.append(reaped.pid)
                self._waiting.append((_reaped_event(reaped, wrapped, evidence), lineno))
            return
        if (
            report is not None
            and (report.settled if report.victims else report.selected is not None)
            and (sel := kl.selected(text)) is not None
        ):
            # the next report's selection line (a burst whose other lines were rate-limited,
            # a grep that kept only the selection lines): one report each
            self._close(out)
            report = self._report = OpenReport.headerless(wrapped)
            report.take_selected(sel, evidence)
            return
        if report is None:
            if (summ := kl.summary(text)) is not None and (
                summ.pid is not None or "oom-kill:constraint=" in text
            ):
                # a report whose header was lost (rate limit, truncated paste)
                report = self._report = OpenReport.headerless(wrapped)
                report.take_summary(summ, evidence)
            elif (sel := kl.selected(text)) is not None:
                report = self._report = OpenReport.headerless(wrapped)
                report.take_selected(sel, evidence)
            elif _starts_report(text):
                # the middle of a report (its stack, memcg block or panic) is read from here;
                # a stack that never reaches the OOM killer is dropped (OpenReport.is_oom)
                report = self._report = OpenReport.headerless(wrapped)
                report.take_line(text, wrapped, evidence)
                if evidence not in report.evidence:
                    report.evidence.append(evidence)  # where the excerpt starts
            return
        if report.victims and report.try_continuation(text, wrapped):
            return
        report.take_line(text, wrapped, evidence)
        if report.exhausted:
            self._close(out)

    def _close(self, out: list[KillEvent]) -> None:
        report, self._report = self._report, None
        if report is None:
            return
        for event, lineno in report.events():
            if event.pid is not None:
                self._recent.append(event.pid)
            self._waiting.append((event, lineno))

    def _attach_reaper(self, reaped: kl.Reaped, evidence: Evidence, out: list[KillEvent]) -> bool:
        """Add the reaper line to the waiting event of its pid; False when none waits."""
        for index in range(len(self._waiting) - 1, -1, -1):
            event, _ = self._waiting[index]
            if event.pid == reaped.pid and event.killed:
                self._waiting[index] = (
                    event.with_changes(evidence=(*event.evidence, evidence)),
                    self._waiting[index][1],
                )
                # events leave in kill order: everything up to this one is settled
                out.extend(e for e, _ in self._waiting[: index + 1])
                del self._waiting[: index + 1]
                return True
        return False

    def _release_stale(self, lineno: int, out: list[KillEvent]) -> None:
        if not self._waiting:
            return
        now = self._now
        keep_from = 0
        for index, (event, kill_line) in enumerate(self._waiting):
            too_many = len(self._waiting) - index > MAX_WAITING
            too_far = lineno - kill_line > REAPER_WAIT_LINES
            too_late = (
                now is not None
                and event.uptime_s is not None
                and now - event.uptime_s > REAPER_WAIT_S
            )
            if too_many or too_far or too_late:
                out.append(event)
                keep_from = index + 1
            else:
                break
        del self._waiting[:keep_from]


def _entries(line: str) -> list[str]:
    """The log entries of one line: itself, or for a log whose newlines were lost (a web
    page, a flattened paste) the pieces that start at each kernel print stamp."""
    if line.count("] ") < MIN_FLATTENED_ENTRIES or len(line) < 100:
        return [line]
    pieces = _ENTRY_STAMP.split(line)
    if len(pieces) <= MIN_FLATTENED_ENTRIES:
        return [line]
    return [piece.rstrip() for piece in pieces if piece.strip()]


def _reaped_event(reaped: kl.Reaped, wrapped: Unwrapped, evidence: Evidence) -> KillEvent:
    """The kill an ``oom_reaper:`` line proves when the rest of its report is not there
    (its ``now anon-rss`` is what is left after reaping, not the victim's size)."""
    return KillEvent(
        cause=Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        source="kernel",
        pid=reaped.pid,
        process=reaped.comm or None,
        time=wrapped.time,
        uptime_s=wrapped.uptime_s,
        epoch_s=wrapped.epoch_s,
        host=wrapped.host,
        evidence=(evidence,),
    )


def _starts_report(text: str) -> bool:
    """True for a line from the middle of an OOM report that a partial copy may start with."""
    frames = kl.frames(text)
    return (
        (frames is not None and frames.oom)
        or kl.invoker(text) is not None
        or text.startswith(("Hardware name: ", "Memory cgroup stats for", "Task in "))
        or " mems_allowed=" in text
        or kl.usage(text) is not None
        or "no killable processes" in text
        or "panic_on_oom" in text
    )


def parse_kernel_log(lines: Iterable[str], path: str = "") -> list[KillEvent]:
    """Every kill in ``lines`` (a whole log in memory, e.g. ``dmesg`` output), fed line by line.

    For files of any size use :func:`killproof.sources.logscan.scan_path` instead.
    """
    parser = KernelOomParser(path)
    events: list[KillEvent] = []
    for number, line in enumerate(lines, 1):
        events.extend(parser.feed(number, line))
    events.extend(parser.finish())
    return events
