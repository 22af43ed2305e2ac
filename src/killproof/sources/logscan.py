"""Read a log of any size once, in constant memory, and feed each parser only what it wants.

A parser names literal ``anchors``; :func:`scan` hands it every line containing one, plus
every following line while the parser ``wants_context`` (a kernel OOM report's task table
has no anchor). Lines are found without decoding the whole log:

* ``GREP`` — GNU ``grep -F -a -b -n`` on the file finds the anchored lines (one multi-pattern
  pass in C, in a second process); context lines are read by seeking to the byte offset grep
  reported. Used for regular files of :data:`GREP_MIN_BYTES` or more when a working grep is
  on PATH.
* ``PYTHON`` — chunks of :data:`CHUNK_BYTES`; ``bytes.find`` per anchor over the raw chunk,
  ``bytes.count`` for line numbers, and only the hit lines are decoded (UTF-8, invalid bytes
  replaced). Works on any stream (pipes, gzip).

Both give the same lines with the same 1-based numbers.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import heapq
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from killproof.errors import InputError
from killproof.sources.lines import LineParser
from killproof.why.model import KillEvent

CHUNK_BYTES = 4 << 20
"""Bytes read at a time (memory stays near a few of these whatever the log's size)."""
MAX_LINE_BYTES = 1 << 20
"""A longer line is cut: its first this-many bytes are scanned, the rest skipped."""
PROBE_BYTES = 64 << 10
"""The first block, checked for NUL bytes (a binary file is not a log)."""
GREP_MIN_BYTES = 32 << 20
"""Below this size the in-process scanner is as fast as starting grep."""


class Prefilter(enum.Enum):
    """How anchored lines are found."""

    AUTO = "auto"
    GREP = "grep"
    PYTHON = "python"


class _Feeder:
    """Hands a decoded line to the parsers that asked for it."""

    def __init__(self, parsers: Sequence[LineParser]) -> None:
        self.parsers = parsers

    @property
    def wants_context(self) -> bool:
        return any(p.wants_context for p in self.parsers)

    def feed(self, lineno: int, raw: bytes) -> list[KillEvent]:
        text = raw.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        out: list[KillEvent] = []
        for parser in self.parsers:
            if parser.wants_context or any(a in text for a in parser.anchors):
                out.extend(parser.feed(lineno, text))
        return out

    def finish(self) -> list[KillEvent]:
        out: list[KillEvent] = []
        for parser in self.parsers:
            out.extend(parser.finish())
        return out


def _check_text(head: bytes, path: str) -> None:
    if b"\x00" in head:
        raise InputError("binary file, not a log (pass the text of journalctl/dmesg)", path)


def scan(
    stream: BinaryIO,
    path: str,
    parsers: Sequence[LineParser],
    prefilter: Prefilter = Prefilter.AUTO,
) -> Iterator[KillEvent]:
    """Feed the lines of ``stream`` to ``parsers``; yield their events as they complete.

    ``path`` names the input in errors. Raises :class:`InputError` for a binary file.
    """
    head = stream.read(PROBE_BYTES)
    _check_text(head, path)
    feeder = _Feeder(parsers)
    name = _grep_target(stream, head, prefilter)
    if name is not None:
        stream.seek(0)
        yield from _scan_grep(stream, name, feeder)
    else:
        yield from _scan_python(stream, head, feeder)
    yield from feeder.finish()


def scan_path(
    path: str | Path, parsers: Sequence[LineParser], prefilter: Prefilter = Prefilter.AUTO
) -> Iterator[KillEvent]:
    """:func:`scan` a file by name (``-`` is stdin; gzip-compressed logs are read through)."""
    name = str(path)
    if name == "-":
        import sys

        yield from scan(sys.stdin.buffer, "<stdin>", parsers, Prefilter.PYTHON)
        return
    try:
        with open(name, "rb") as raw:
            if raw.read(2) == b"\x1f\x8b":
                raw.seek(0)
                with gzip.open(raw, "rb") as unzipped:
                    yield from scan(unzipped, name, parsers, Prefilter.PYTHON)  # type: ignore[arg-type]
                return
            raw.seek(0)
            yield from scan(raw, name, parsers, prefilter)
    except IsADirectoryError as err:
        raise InputError("is a directory, not a log", name) from err
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise InputError(f"cannot read: {reason}", name) from err


# -- in-process scanner ----------------------------------------------------------------------


def _scan_python(stream: BinaryIO, head: bytes, feeder: _Feeder) -> Iterator[KillEvent]:
    needles = sorted({a.encode() for p in feeder.parsers for a in p.anchors if a})
    lineno = 0
    carry = b""
    skipping = False  # inside an over-long line, after its first MAX_LINE_BYTES
    pending = head
    while True:
        chunk = pending if pending else stream.read(CHUNK_BYTES)
        pending = b""
        eof = not chunk
        if eof:
            if not carry:
                break
            chunk = b"\n"  # a last line without its newline
        if skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk, skipping = chunk[newline:], False
        buf = carry + chunk if carry else chunk
        limit = buf.rfind(b"\n") + 1
        lineno, events = _scan_buffer(buf, limit, lineno, needles, feeder)
        yield from events
        carry = buf[limit:]
        if len(carry) > MAX_LINE_BYTES:
            carry, skipping = carry[:MAX_LINE_BYTES], True
        if eof:
            break


def _scan_buffer(
    buf: bytes, limit: int, lineno: int, needles: Sequence[bytes], feeder: _Feeder
) -> tuple[int, list[KillEvent]]:
    """Feed the anchored (and context) lines of ``buf[:limit]``; return the new line count."""
    events: list[KillEvent] = []
    pos = 0
    found = {n: buf.find(n, 0, limit) for n in needles}
    while pos < limit:
        if feeder.wants_context:
            end = buf.find(b"\n", pos, limit)
            lineno += 1
            events.extend(feeder.feed(lineno, buf[pos:end]))
            pos = end + 1
            continue
        hit = -1
        for needle, seen in found.items():
            at = seen
            if 0 <= at < pos:
                at = found[needle] = buf.find(needle, pos, limit)
            if at >= 0 and (hit < 0 or at < hit):
                hit = at
        if hit < 0:
            lineno += buf.count(b"\n", pos, limit)
            break
        start = buf.rfind(b"\n", pos, hit) + 1 or pos
        lineno += buf.count(b"\n", pos, start) + 1
        end = buf.find(b"\n", hit, limit)
        events.extend(feeder.feed(lineno, buf[start:end]))
        pos = end + 1
    return lineno, events


# -- grep prefilter --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _grep() -> str | None:
    """A grep that understands ``-F -a -b -n`` as GNU grep does, or None."""
    found = shutil.which("grep")
    if found is None:
        return None
    try:
        probe = subprocess.run(
            [found, "-F", "-a", "-b", "-n", "-e", "y"],
            input=b"x\nay\n",
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found if probe.stdout == b"2:2:ay\n" else None


def _grep_target(stream: BinaryIO, head: bytes, prefilter: Prefilter) -> str | None:
    """The file name to give grep, or None to scan in process."""
    if prefilter is Prefilter.PYTHON:
        return None
    name = getattr(stream, "name", None)
    try:
        usable = (
            isinstance(name, str)
            and stream.seekable()
            and stream.tell() == len(head)
            and stat.S_ISREG(os.stat(name).st_mode)
        )
        size = os.stat(name).st_size if usable and isinstance(name, str) else 0
    except OSError:
        usable, size = False, 0
    if not usable or _grep() is None:
        if prefilter is Prefilter.GREP:
            raise InputError("grep prefilter needs GNU grep and a regular file", str(name))
        return None
    if prefilter is Prefilter.AUTO and size < GREP_MIN_BYTES:
        return None
    return name if isinstance(name, str) else None


def _read_line(pipe: BinaryIO) -> bytes:
    """One line of at most MAX_LINE_BYTES (the rest of a longer one is dropped)."""
    line = pipe.readline(MAX_LINE_BYTES)
    if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
        while (rest := pipe.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        line += b"\n"
    return line


def _grep_hits(proc: subprocess.Popen[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) from ``grep -b -n`` output, in file order."""
    assert proc.stdout is not None
    while out := _read_line(proc.stdout):  # type: ignore[arg-type]
        number, offset, raw = out.split(b":", 2)
        if number.isdigit() and offset.isdigit():
            yield int(number), int(offset), raw[:-1]


def _scan_grep(stream: BinaryIO, name: str, feeder: _Feeder) -> Iterator[KillEvent]:
    grep = _grep()
    assert grep is not None
    needles = sorted({a for p in feeder.parsers for a in p.anchors if a})
    # One grep for all anchors. Splitting the anchors over one grep per core and merging by
    # line number was measured slower on this 2-core machine (bench/why_vs_grep.py), but
    # the merge is kept so that it is one number to change where cores are real.
    workers = 1
    env = {**os.environ, "LC_ALL": "C"}
    fed_to = 0  # last line number already fed
    with contextlib.ExitStack() as stack:
        procs: list[subprocess.Popen[bytes]] = []
        for share in (needles[i::workers] for i in range(workers)):
            args = [grep, "-F", "-a", "-b", "-n"]
            for needle in share:
                args += ["-e", needle]
            procs.append(
                stack.enter_context(
                    subprocess.Popen(
                        [*args, "--", name],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        env=env,
                    )
                )
            )
        try:
            for lineno, offset, raw in heapq.merge(*(_grep_hits(p) for p in procs)):
                if lineno <= fed_to:
                    continue  # already fed: a context line, or a hit of two greps
                yield from feeder.feed(lineno, raw)
                fed_to = lineno
                if feeder.wants_context:
                    stream.seek(offset)
                    _read_line(stream)  # the hit line itself (its length in bytes may be cut)
                    while feeder.wants_context and (line := _read_line(stream)):
                        fed_to += 1
                        yield from feeder.feed(fed_to, line.rstrip(b"\n"))
        finally:
            errors = []
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                assert proc.stderr is not None
                errors.append(proc.stderr.read().decode("utf-8", "replace").strip())
                proc.wait()
    for proc, error in zip(procs, errors, strict=True):
        if proc.returncode not in (0, 1, -9):
            raise InputError(
                f"grep failed: {error.splitlines()[0] if error else proc.returncode}", name
            )
