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
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from killproof.errors import InputError
from killproof.model import Finding, Report, Skipped, Table
from killproof.rules.base import Example
from killproof.rules.kill import RULES as KILL_RULES
from killproof.sources import (
    cgroupfs,
    earlyoom,
    exits,
    k8s,
    k8s_text,
    kernel,
    logscan,
    oomd,
    systemd,
)
from killproof.sources.lines import LineParser
from killproof.why.explain import explain, mib
from killproof.why.merge import merge
from killproof.why.model import KillEvent

# JSON/YAML documents are read whole; anything this large is a log, not a pod status.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_PEEK_BYTES = 64 * 1024


@dataclass(frozen=True)
class LiveOptions:
    """Read the running machine: the kernel log, and a cgroup by path or by pid."""

    read_kernel_log: bool = True
    pid: int | None = None
    cgroup: str | None = None


def line_parsers(path: str) -> list[LineParser]:
    """A fresh set of every line-based parser, for one input."""
    return [
        kernel.KernelOomParser(path),
        systemd.SystemdParser(path),
        earlyoom.EarlyoomParser(path),
        k8s_text.DescribeParser(path),
        k8s_text.EventTableParser(path),
        exits.ExitLineParser(path),
        oomd.OomdParser(path),
    ]


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


def read_stream(stream: BinaryIO, path: str) -> Iterator[KillEvent]:
    """Every observation in one input, documents and logs alike."""
    head = stream.read(_PEEK_BYTES)
    if b"\x00" in head:
        raise InputError("binary file, not a log or a Kubernetes document", path)
    if _looks_like_document(head):
        head += stream.read(MAX_DOCUMENT_BYTES + 1 - len(head))
        if len(head) <= MAX_DOCUMENT_BYTES:
            doc = k8s.detect_document(head.decode("utf-8", errors="replace"), path)
            if doc is not None:
                yield from k8s.parse_document(doc, path)
                return
    if isinstance(stream, io.BufferedReader | io.BytesIO) and stream.seekable():
        stream.seek(0)  # a plain file (the scanner may hand it to ripgrep/grep) or bytes
        yield from logscan.scan(stream, path, line_parsers(path))
        return
    # A pipe or a decompressing reader: spooled to a temporary file in 1 MiB pieces, so a
    # large one gets the fast prefilter too (the pure-Python scan is ~20x grep's time on a
    # GB) while memory stays constant.
    with tempfile.NamedTemporaryFile(prefix="killproof-why-", suffix=".log") as spool:
        spool.write(head)
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.flush()
        with open(spool.name, "rb") as spooled:
            yield from logscan.scan(spooled, path, line_parsers(path))


# Rotated logs: kern.log.2.gz, messages-20261126.xz, syslog.3.bz2 (read through, streamed).
# Each opener's result is closed by the `with` in read_path.
_COMPRESSED: tuple[tuple[bytes, Callable[[BinaryIO], BinaryIO]], ...] = (
    (b"\x1f\x8b", lambda f: cast(BinaryIO, gzip.GzipFile(fileobj=f))),
    (b"\xfd7zXZ\x00", lambda f: cast(BinaryIO, lzma.LZMAFile(f))),  # noqa: SIM115
    (b"BZh", lambda f: cast(BinaryIO, bz2.BZ2File(f))),
)


def read_path(path: str, stdin: BinaryIO | None) -> Iterator[KillEvent]:
    """Observations from a file path (plain, gzip, xz or bzip2), or from ``stdin`` for ``-``."""
    if path == "-":
        if stdin is None:
            raise InputError("no standard input to read", "-")
        yield from read_stream(stdin, "<stdin>")
        return
    p = Path(path)
    if p.is_dir():
        raise InputError("is a directory; give the log or document files in it", path)
    try:
        handle = p.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from exc
    with handle:
        magic = handle.read(6)
        handle.seek(0)
        opener = next((o for m, o in _COMPRESSED if magic.startswith(m)), None)
        if opener is None:
            yield from read_stream(handle, path)
            return
        try:
            with opener(handle) as unpacked:
                yield from read_stream(unpacked, path)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise InputError(f"corrupt compressed file: {exc}", path) from exc


def _run(argv: Sequence[str]) -> bytes | None:
    try:
        proc = subprocess.run(list(argv), capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 and proc.stdout else None


def read_live(options: LiveOptions) -> tuple[list[KillEvent], list[Skipped]]:
    """The kernel log of this machine (``dmesg``, else ``journalctl -k``) and a cgroup."""
    events: list[KillEvent] = []
    skipped: list[Skipped] = []
    if options.read_kernel_log:
        for argv, name in (
            (["dmesg"], "dmesg"),
            (["journalctl", "-k", "-o", "short-iso", "--no-pager"], "journalctl -k"),
        ):
            out = _run(argv)
            if out is not None:
                events += logscan.scan(io.BytesIO(out), name, line_parsers(name))
                break
        else:
            skipped.append(
                Skipped("kernel log", "neither dmesg nor journalctl -k could be read (need root?)")
            )
    if options.pid is not None or options.cgroup is not None:
        try:
            memory = (
                cgroupfs.read_cgroup(Path(options.cgroup))
                if options.cgroup is not None
                else cgroupfs.read_cgroup_of_pid(options.pid or 0)
            )
        except InputError as exc:
            skipped.append(Skipped(options.cgroup or f"pid {options.pid}", exc.message))
        else:
            event = cgroupfs.kill_event(memory)
            if event is not None:
                events.append(event)
    return events, skipped


def _findings(events: Iterable[KillEvent]) -> list[Finding]:
    return [f for e in events for rule in KILL_RULES for f in rule.check(e)]


def _event_json(e: KillEvent) -> dict[str, object]:
    verdict = explain(e)
    out = e.to_json()
    out["headline"] = verdict.headline
    out["explanation"] = verdict.explanation
    out["next_steps"] = list(verdict.next_steps)
    return out


def _table(events: Sequence[KillEvent]) -> Table:
    rows = []
    for e in events:
        memory = mib(e.anon_rss_kb) if e.anon_rss_kb is not None else ""
        limit = mib(e.limit_kb) if e.limit_kb is not None else ""
        rows.append(
            (
                e.time or "",
                e.cause.value + ("" if e.killed else " (attempt)"),
                str(e.pid) if e.pid is not None else "",
                e.process or e.container or e.unit or "",
                memory,
                limit,
                e.oom_memcg or "",
            )
        )
    return Table(
        title="Kills",
        columns=("time", "cause", "pid", "process", "anon-rss", "limit", "limit cgroup"),
        rows=tuple(rows),
    )


def build_report(
    events: Sequence[KillEvent], skipped: Sequence[Skipped], inputs: Sequence[str]
) -> Report:
    """The ``why`` report: merged events, one finding each, a table and a headline."""
    merged = merge(events)
    deaths = [e for e in merged if e.killed]
    if not merged:
        summary = "No kill found in the evidence."
    else:
        first = explain(merged[0]).headline
        summary = f"{len(deaths)} kill(s), {len(merged) - len(deaths)} attempt(s): {first}" + (
            " …" if len(merged) > 1 else ""
        )
    return Report(
        command="why",
        findings=tuple(_findings(merged)),
        skipped=tuple(skipped),
        sections={"events": [_event_json(e) for e in merged]},
        metadata={"inputs": list(inputs)},
        summary=summary,
        tables=(_table(merged),) if merged else (),
    )


def explain_kills(
    paths: Sequence[str],
    stdin: BinaryIO | None,
    exit_codes: Sequence[int] = (),
    live: LiveOptions | None = None,
) -> Report:
    """Read every input, merge observations of the same death, explain each."""
    events: list[KillEvent] = []
    skipped: list[Skipped] = []
    for path in paths:
        if len(paths) == 1:
            events.extend(read_path(path, stdin))
            continue
        # Among several inputs (a glob of /var/log), one unusable file is skipped, not fatal.
        try:
            events.extend(read_path(path, stdin))
        except InputError as exc:
            skipped.append(Skipped(path, str(exc).removeprefix(f"{path}: ")))
    for code in exit_codes:
        events.append(exits.exit_code_event(code))
    if live is not None:
        live_events, live_skipped = read_live(live)
        events += live_events
        skipped += live_skipped
    inputs = list(paths) + [f"exit code {c}" for c in exit_codes]
    if live is not None:
        inputs.append("live machine")
    return build_report(events, skipped, inputs)


def check_example(example: Example) -> list[Finding]:
    """The findings ``why`` makes of a rule's documented evidence example."""
    name = example.filename or "example.log"
    events = list(read_stream(io.BytesIO(example.source.encode("utf-8")), name))
    return list(build_report(events, (), (name,)).findings)
