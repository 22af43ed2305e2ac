"""``killproof why``: read every piece of evidence, merge, explain, report.

Inputs are recognised by content, never by file name: a Kubernetes or Docker JSON/YAML
document, or a log (kernel, journal, syslog, earlyoom, kubectl text, Go or shell output)
that is streamed once, in constant memory, through every line parser at the same time.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, cast

from killproof.errors import InputError
from killproof.facts.kill import KillEvent
from killproof.model import Finding, Report, Skipped, Table, counted, merge_skipped
from killproof.rules import engine
from killproof.rules.base import Example
from killproof.rules.kill import RULES as KILL_RULES
from killproof.rules.kill import explain
from killproof.sources import (
    cgroupfs,
    earlyoom,
    exits,
    k8s,
    k8s_loose,
    k8s_text,
    kernel,
    killwords,
    logscan,
    oom_counter,
    oomd,
    sniff,
    systemd,
    userspace,
)
from killproof.sources.lines import LineParser
from killproof.why import present
from killproof.why.clocktime import WallClock, when, with_clock_time
from killproof.why.merge import merge
from killproof.why.present import InputRead, input_read

MAX_OBSERVATIONS = 10_000
"""Kill observations read in one run at most: memory and time stay bounded whatever the
input (a log can repeat a kill line millions of times); the report says what was not read."""
_LIMIT = f"at most {MAX_OBSERVATIONS} kill observations are read in one run"
# A JSON/YAML document up to this size is read whole; a larger JSON one is streamed.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_PEEK_BYTES = 64 * 1024
_SPOOL_BYTES = 1 << 20


@dataclass(frozen=True)
class LiveOptions:
    """Read the running machine: the kernel log, and a cgroup by path or by pid.

    ``kernel_log`` gives the log's name and bytes (default: :func:`machine_kernel_log`)."""

    read_kernel_log: bool = True
    pid: int | None = None
    cgroup: str | None = None
    kernel_log: Callable[[], tuple[str, bytes] | None] | None = None


def line_parsers(path: str, sink: list[killwords.KillLikeLine] | None = None) -> list[LineParser]:
    """A fresh set of every line-based parser, for one input; with a ``sink``, kill-like
    lines are collected into it too (see :mod:`killproof.sources.killwords`)."""
    parsers: list[LineParser] = [
        kernel.KernelOomParser(path),
        systemd.SystemdParser(path),
        earlyoom.EarlyoomParser(path),
        k8s_text.DescribeParser(path),
        k8s_text.EventTableParser(path),
        exits.ExitLineParser(path),
        oomd.OomdParser(path),
        userspace.UserspaceKillerParser(path),
        oom_counter.OomKillCounterParser(path),
        k8s_loose.LooseK8sParser(path),
    ]
    if sink is not None:
        parsers.append(killwords.KillLikeCollector(path, sink))
    return parsers


def _looks_like_document(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return True
    if text.startswith(b"["):
        # A JSON array, not a dmesg line such as "[ 1584.6] …".
        return text[1:].lstrip(b" \t\r\n")[:1] in (b"{", b"]", b'"')
    return any(
        line.startswith((b"apiVersion:", b"kind:", b"items:", b"---"))
        for line in text.splitlines()[:50]
    )


class _Replay(io.RawIOBase):
    """Bytes already read from a stream, then the rest of the stream (a pipe cannot seek
    back to give them again)."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self._first = memoryview(first)
        self._rest = rest

    def readable(self) -> bool:
        """Always."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the replayed bytes, then from the stream."""
        if self._first:
            n = min(len(buffer), len(self._first))
            buffer[:n] = self._first[:n]
            self._first = self._first[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _replayed(first: bytes, rest: BinaryIO) -> BinaryIO:
    return cast(BinaryIO, io.BufferedReader(_Replay(first, rest), _SPOOL_BYTES))


def read_stream(
    stream: BinaryIO,
    path: str,
    bounded: bool = False,
    sink: list[killwords.KillLikeLine] | None = None,
) -> Iterator[KillEvent]:
    """Every observation in one input, documents and logs alike.

    ``sink``: where kill-like lines of a log are collected (see ``line_parsers``).
    ``bounded``: the stream is a plain file's (a long run of NULs at its start is read
    through; on a pipe or a decompressor it is refused, see :mod:`killproof.sources.sniff`).
    """
    head = sniff.read_text_head(stream.read, path, bounded, _PEEK_BYTES)
    if _looks_like_document(head):
        head += sniff.strip_nuls(stream.read(MAX_DOCUMENT_BYTES + 1 - len(head)))
        text = head[:_PEEK_BYTES].decode("utf-8", errors="replace")
        if len(head) <= MAX_DOCUMENT_BYTES:
            try:
                doc = k8s.detect_document(head.decode("utf-8", errors="replace"), path)
            except InputError:
                # A truncated or hand-cut document (a paste from a watch, a bug report) is
                # still evidence: its lines are read as text, then the damage is reported
                # (a skipped entry beside what was found; exit 2 when nothing was).
                yield from logscan.scan(io.BytesIO(head), path, line_parsers(path, sink))
                raise
            if doc is not None:
                yield from k8s.parse_document(doc, path)
                return
        elif k8s.looks_like_json_document(text):
            yield from k8s.stream_document(_replayed(head, stream), path)
            return
        elif k8s.looks_like_yaml_document(text):
            raise InputError(
                f"a YAML document over {MAX_DOCUMENT_BYTES >> 20} MiB; give it as JSON "
                "(kubectl get … -o json), which is read in pieces",
                path,
            )
    if isinstance(stream, io.BufferedReader | io.BytesIO) and stream.seekable():
        stream.seek(0)  # a plain file (the scanner may hand it to ripgrep/grep) or bytes
        yield from logscan.scan(stream, path, line_parsers(path, sink))
        return
    # A pipe or a decompressing reader: spooled to a temporary file in 1 MiB pieces, NULs
    # dropped, so a large one gets the fast prefilter too (the pure-Python scan is ~20x
    # grep's time on a GB) while memory stays constant.
    with tempfile.NamedTemporaryFile(prefix="killproof-why-", suffix=".log") as spool:
        spool.write(head)
        damage: Exception | None = None
        try:
            while chunk := stream.read(_SPOOL_BYTES):
                spool.write(sniff.strip_nuls(chunk))
        except logscan.READ_ERRORS as exc:
            damage = exc  # a truncated .gz, EIO: what came before it is still read
        spool.flush()
        with open(spool.name, "rb") as spooled:
            yield from logscan.scan(spooled, path, line_parsers(path, sink))
        if damage is not None:
            raise damage


# Rotated logs: kern.log.2.gz, messages-20261126.xz, syslog.3.bz2 (read through, streamed).
# Each opener's result is closed by the `with` in read_path.
_COMPRESSED: tuple[tuple[bytes, Callable[[BinaryIO], BinaryIO]], ...] = (
    (b"\x1f\x8b", lambda f: cast(BinaryIO, gzip.GzipFile(fileobj=f))),
    (b"\xfd7zXZ\x00", lambda f: cast(BinaryIO, lzma.LZMAFile(f))),  # noqa: SIM115
    (b"BZh", lambda f: cast(BinaryIO, bz2.BZ2File(f))),
)
# What a damaged compressed file raises while it is read (BadGzipFile is an OSError).
_CORRUPT = logscan.READ_ERRORS


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _read_file(
    handle: BinaryIO, path: str, regular: bool, sink: list[killwords.KillLikeLine] | None
) -> Iterator[KillEvent]:
    """Observations from an open file: plain, or gzip/xz/bzip2 read through."""
    magic = handle.read(6)
    if regular:
        handle.seek(0)
    else:
        handle = _replayed(magic, handle)  # a FIFO, `why <(cat log)`: no seeking back
    opener = next((o for m, o in _COMPRESSED if magic.startswith(m)), None)
    if opener is None:
        yield from read_stream(handle, path, bounded=regular, sink=sink)
        return
    try:
        with opener(handle) as unpacked:
            yield from read_stream(unpacked, path, sink=sink)
    except _CORRUPT as exc:
        raise InputError(f"corrupt compressed file: {_reason(exc)}", path) from exc


def read_path(
    path: str, stdin: BinaryIO | None, sink: list[killwords.KillLikeLine] | None = None
) -> Iterator[KillEvent]:
    """Observations from a file path or from ``stdin`` for ``-`` (plain, gzip, xz or bzip2; a
    regular file or a pipe). Raises :class:`InputError` naming the file for anything that
    keeps it from being read: missing, a directory or a device, binary, corrupt, a read
    error (EIO from /proc, EINVAL from /sys), malformed; the observations before a read
    error have been yielded by then."""
    if path == "-":
        if stdin is None:
            raise InputError("no standard input to read", "-")
        try:
            yield from _read_file(stdin, "<stdin>", logscan.regular_file(stdin), sink)
        except OSError as exc:
            raise InputError(f"cannot read: {_reason(exc)}", "<stdin>") from exc
        return
    p = Path(path)
    try:
        directory = p.is_dir()
    except OSError:  # ENAMETOOLONG, EACCES on a parent: open() says it below
        directory = False
    if directory:
        raise InputError("is a directory; give the log or document files in it", path)
    try:
        handle = p.open("rb")
        mode = os.fstat(handle.fileno()).st_mode
    except OSError as exc:
        raise InputError(f"cannot read: {_reason(exc)}", path) from exc
    with handle:
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            raise InputError(
                "a device, not a log file (give a log's text, e.g. on standard input)", path
            )
        try:
            yield from _read_file(handle, path, stat.S_ISREG(mode), sink)
        except OSError as exc:
            raise InputError(f"cannot read: {_reason(exc)}", path) from exc


def _run(argv: Sequence[str]) -> bytes | None:
    try:
        proc = subprocess.run(list(argv), capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 and proc.stdout else None


def machine_kernel_log() -> tuple[str, bytes] | None:
    """This machine's kernel log and the command that gave it: ``dmesg`` (raw, seconds
    since boot), else ``journalctl -k``; None when neither can be read."""
    for argv, name in (
        (["dmesg"], "dmesg"),
        (["journalctl", "-k", "-o", "short-iso", "--no-pager"], "journalctl -k"),
    ):
        out = _run(argv)
        if out is not None:
            return name, out
    return None


@dataclass(frozen=True)
class LiveReading:
    """What was read from the running machine: kill observations, what could not be read,
    each live input with what was recognised in it, and the cgroup's counters."""

    events: list[KillEvent]
    skipped: list[Skipped]
    reads: list[InputRead]
    cgroup: cgroupfs.CgroupMemory | None = None


def _in_cgroup(event: KillEvent, hierarchy_path: str) -> bool:
    """True when the kernel names ``hierarchy_path`` (or a cgroup below it) as the
    victim's cgroup or as the cgroup whose limit was hit."""
    below = hierarchy_path.rstrip("/") + "/"
    return any(
        path == hierarchy_path or path.startswith(below)
        for path in (event.task_memcg, event.oom_memcg)
        if path
    )


def _read_cgroup(
    options: LiveOptions,
) -> tuple[cgroupfs.CgroupMemory | None, list[KillEvent], list[Skipped], list[InputRead]]:
    """The cgroup ``--cgroup``/``--pid`` name: its counters, the kill they prove, and the
    entries for the report."""
    what = options.cgroup or f"memory cgroup of pid {options.pid}"
    try:
        memory = (
            cgroupfs.read_cgroup(Path(options.cgroup))
            if options.cgroup is not None
            else cgroupfs.read_cgroup_of_pid(options.pid or 0)
        )
    except InputError as exc:
        skip = Skipped(options.cgroup or f"pid {options.pid}", exc.message)
        return None, [], [skip], [InputRead(what, not_read=True)]
    event = cgroupfs.kill_event(memory)
    events = [event] if event is not None else []
    return memory, events, [], [InputRead(what, ("cgroup",), len(events))]


def read_machine(options: LiveOptions, boot_s: float | None = None) -> LiveReading:
    """The kernel log of this machine and a cgroup (by path or by pid). With ``boot_s``
    (this machine's boot time, seconds since 1970) kernel lines stamped in seconds since
    boot get a clock time too. With a cgroup whose place in the hierarchy is known, only
    the kernel's kills in it (or below it) are kept: the question is that cgroup's."""
    memory: cgroupfs.CgroupMemory | None = None
    events: list[KillEvent] = []
    skipped: list[Skipped] = []
    reads: list[InputRead] = []
    if options.pid is not None or options.cgroup is not None:
        memory, events, skipped, reads = _read_cgroup(options)
    scope = memory.hierarchy_path if memory is not None else None
    if options.read_kernel_log:
        log = (options.kernel_log or machine_kernel_log)()
        if log is None:
            skipped.append(
                Skipped("kernel log", "neither dmesg nor journalctl -k could be read (need root?)")
            )
            reads.insert(0, InputRead("kernel log", not_read=True))
        else:
            name, out = log
            found: list[KillEvent] = []
            try:
                found += logscan.scan(io.BytesIO(out), name, line_parsers(name))
            except InputError as exc:
                skipped.append(Skipped(name, exc.message))
            if scope is not None:
                found = [e for e in found if _in_cgroup(e, scope)]
                name = f"{name} (kills in {scope} only)"
            found = [with_clock_time(e, boot_s) for e in found]
            events = found + events
            reads.insert(0, input_read(name, found))
    return LiveReading(events, skipped, reads, memory)


def read_live(options: LiveOptions) -> tuple[list[KillEvent], list[Skipped]]:
    """The kernel log of this machine (``dmesg``, else ``journalctl -k``) and a cgroup."""
    reading = read_machine(options)
    return reading.events, reading.skipped


def _findings(
    events: Iterable[KillEvent], clock: WallClock | None = None
) -> tuple[list[Finding], list[Skipped]]:
    """One finding per event and rule, in the order of the events; a fix already given
    for an earlier finding (a burst of identical kills) is said once, not once per kill.
    With a ``clock``, each finding with a clock time says when its kill happened. A rule
    that fails on an event is a skipped entry naming the rule and the event's source."""
    out: list[Finding] = []
    skipped: list[Skipped] = []
    said: set[str] = set()
    for event in events:
        # Only a clock time is worth adding: a raw log's own stamp is in the evidence lines.
        at = when(event, clock, inline=True) if event.epoch_s is not None else ""
        found, missed = engine.run(KILL_RULES, event, subject=f"{event.source} kill evidence")
        skipped += missed
        for f in found:
            shown = replace(f, remedy="") if f.remedy in said else f
            said.add(f.remedy)
            if at:
                subject = ", ".join(p for p in (f.location.subject, at) if p)
                shown = replace(shown, location=replace(f.location, subject=subject))
            out.append(shown)
    return out, skipped


def _event_json(e: KillEvent) -> dict[str, object]:
    verdict = explain(e)
    out = e.to_json()
    out["headline"] = verdict.headline
    out["explanation"] = verdict.explanation
    out["next_steps"] = list(verdict.next_steps)
    return out


def _drop_fallback_repeats(events: Sequence[KillEvent]) -> list[KillEvent]:
    """Observations of the fallback text reader (:mod:`killproof.sources.k8s_loose`) whose
    every line another parser already read are the same observation said twice: dropped."""
    cited = {
        (e.path, e.line) for ev in events if ev.source != k8s_loose.SOURCE for e in ev.evidence
    }
    return [
        ev
        for ev in events
        if ev.source != k8s_loose.SOURCE
        or not ev.evidence
        or not all((e.path, e.line) in cited for e in ev.evidence)
    ]


SHOWN_UNRECOGNIZED = 5
"""Lines not understood that the text report quotes (JSON lists them all, up to the cap)."""


def build_report(
    events: Sequence[KillEvent],
    skipped: Sequence[Skipped],
    inputs: Sequence[str],
    kill_like: Sequence[killwords.KillLikeLine] = (),
    *,
    clock: WallClock | None = None,
    reads: Sequence[InputRead] = (),
    cgroup: cgroupfs.CgroupMemory | None = None,
) -> Report:
    """The ``why`` report: merged events newest first, a short table of them, then one
    finding each (a fix said once); what each input was recognised as (``reads``), a live
    cgroup's counters, and the lines that look like kill evidence but no parser understood
    (never silently dropped). ``clock`` turns times into ``2026-12-07 19:41:02 (12 min
    ago)``."""
    merged = present.newest_first(merge(_drop_fallback_repeats(events)))
    unknown = killwords.not_understood(kill_like, events)
    deaths = [e for e in merged if e.killed]
    first = explain(merged[0]).headline if merged else ""
    summary = present.summary(len(deaths), len(merged) - len(deaths), first, len(unknown), cgroup)
    tables = [present.kills_table(merged, clock)] if merged else []
    if cgroup is not None:
        tables.append(present.cgroup_table(cgroup))
    per_input = Counter(u.path for u in unknown)
    if reads:
        tables.append(present.inputs_table(reads, per_input))
    if unknown:
        shown = unknown[:SHOWN_UNRECOGNIZED]
        more = f", the first {len(shown)}" if len(unknown) > len(shown) else ""
        look = "looks" if len(unknown) == 1 else "look"
        tables.append(
            Table(
                title=f"{counted(len(unknown), 'line')} {look} like kill evidence but "
                f"{'was' if len(unknown) == 1 else 'were'} not understood{more}",
                columns=("file", "line", "text"),
                rows=tuple((u.path, str(u.line), u.text) for u in shown),
            )
        )
    sections: dict[str, object] = {
        "events": [_event_json(e) for e in merged],
        "unrecognized": [u.to_json() for u in unknown],
    }
    if reads:
        sections["inputs"] = present.inputs_json(reads, per_input)
    if cgroup is not None:
        sections["cgroup"] = present.cgroup_json(cgroup)
    found, rule_skips = _findings(merged, clock)
    return Report(
        command="why",
        findings=tuple(found),
        skipped=(*skipped, *merge_skipped(rule_skips)),
        sections=sections,
        metadata={"inputs": list(inputs)},
        summary=summary,
        tables=tuple(tables),
    )


def _skip_reason(exc: InputError, kills_before: int) -> str:
    reason = f"line {exc.line}: {exc.message}" if exc.line else exc.message
    if kills_before:
        kept = counted(kills_before, "observation")
        reason = f"read up to the damage ({kept} kept), then: {reason}"
    return reason


def explain_kills(
    paths: Sequence[str],
    stdin: BinaryIO | None,
    exit_codes: Sequence[int] = (),
    live: LiveOptions | None = None,
    clock: WallClock | None = None,
) -> Report:
    """Read every input, merge observations of the same death, explain each, newest first.

    ``clock``: now and this machine's boot time (the live kernel log's seconds since boot
    become clock times; every time known gets "… ago")."""
    events: list[KillEvent] = []
    skipped: list[Skipped] = []
    failures: list[InputError] = []
    kill_like: list[killwords.KillLikeLine] = []
    reads: list[InputRead] = []
    for path in paths:
        name = "<stdin>" if path == "-" else path
        if len(events) >= MAX_OBSERVATIONS:
            skipped.append(Skipped(path, f"not read: {_LIMIT}"))
            reads.append(InputRead(name, not_read=True))
            continue
        # An unusable input (a binary file in a glob of /var/log, a truncated .gz) is a
        # skipped entry: the other inputs' kills, and its own read before the damage, stand.
        found = len(events)
        failed = False
        try:
            for event in read_path(path, stdin, kill_like):
                events.append(event)
                if len(events) >= MAX_OBSERVATIONS:
                    skipped.append(Skipped(path, f"read in part: {_LIMIT}"))
                    break
        except InputError as exc:
            failures.append(exc)
            skipped.append(Skipped(path, _skip_reason(exc, len(events) - found)))
            failed = True
        except RecursionError:
            deep = InputError("nested too deeply to read", path)
            failures.append(deep)
            skipped.append(Skipped(path, deep.message))
            failed = True
        own = events[found:]
        reads.append(input_read(name, own, not_read=failed and not own))
    if failures and len(failures) == len(paths) and not events and not exit_codes and not live:
        if len(failures) == 1:
            raise failures[0]  # the one input could not be read: exit 2 with its reason
        raise InputError(f"none of the {len(failures)} inputs could be read; first: {failures[0]}")
    for code in exit_codes:
        event = exits.exit_code_event(code)
        events.append(event)
        reads.append(input_read(f"exit code {code}", [event]))
    memory = None
    if live is not None:
        reading = read_machine(live, clock.boot_s if clock else None)
        events += reading.events
        skipped += reading.skipped
        reads += reading.reads
        memory = reading.cgroup
    inputs = list(paths) + [f"exit code {c}" for c in exit_codes]
    if live is not None:
        inputs.append("live machine")
    return build_report(events, skipped, inputs, kill_like, clock=clock, reads=reads, cgroup=memory)


def check_example(example: Example) -> list[Finding]:
    """The findings ``why`` makes of a rule's documented evidence example."""
    name = example.filename or "example.log"
    events = list(read_stream(io.BytesIO(example.source.encode("utf-8")), name))
    return list(build_report(events, (), (name,)).findings)
