"""Read a log of any size once, in constant memory, and feed each parser only what it wants.

A parser names literal ``anchors``; :func:`scan` hands it every line containing one, plus
every following line while the parser ``wants_context`` (a kernel OOM report's task table
has no anchor). Lines are found without decoding the whole log:

* ``RIPGREP`` / ``GREP`` — ``rg`` or GNU ``grep -F -a -b -n`` on the file finds the anchored
  lines (one multi-pattern pass in native code, in a second process); context lines are read
  by seeking to the byte offset it reported. ``AUTO`` uses them for regular files of
  :data:`EXTERNAL_MIN_BYTES` or more (see :mod:`killproof.sources.prefilter`).
* ``PYTHON`` — chunks of :data:`CHUNK_BYTES`; ``bytes.find`` per anchor over the raw chunk,
  ``bytes.count`` for line numbers, and only the hit lines are decoded (UTF-8, invalid bytes
  replaced). Works on any stream (pipes, gzip).

All give the same lines with the same 1-based numbers.
"""

from __future__ import annotations

import enum
import gzip
import io
import lzma
import os
import stat
import sys
import zlib
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from killproof.errors import InputError
from killproof.facts.kill import KillEvent
from killproof.sources import prefilter as prefilter_tools
from killproof.sources import sniff
from killproof.sources.lines import LineParser
from killproof.sources.prefilter import MAX_LINE_BYTES, SearchTool, read_line

READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)
"""What reading a log can raise: EIO/EINVAL from /proc or /sys, a damaged gzip/xz/bzip2."""
CHUNK_BYTES = 4 << 20
"""Bytes read at a time (memory stays near a few of these whatever the log's size)."""
PROBE_BYTES = sniff.PROBE_BYTES
"""The first block of text, judged (a binary file is not a log; NUL bytes do not count)."""
MAX_PARSED_LINE_BYTES = 64 << 10
"""A parser sees at most this much of a line (no log format we read has a longer one; the
rest of a hostile long line cannot make the parsers or the report slower or larger)."""
EXTERNAL_MIN_BYTES = 32 << 20
"""Below this size the in-process scanner is as fast as starting a searcher."""


class Prefilter(enum.Enum):
    """How anchored lines are found."""

    AUTO = "auto"
    """ripgrep, else GNU grep, for a regular file of EXTERNAL_MIN_BYTES or more; else PYTHON."""
    RIPGREP = "rg"
    GREP = "grep"
    PYTHON = "python"


def available_prefilters() -> list[Prefilter]:
    """The prefilters that work on this machine (PYTHON always; RIPGREP/GREP when installed)."""
    tools = prefilter_tools
    out = [Prefilter.PYTHON]
    if tools.find(tools.Tool.GREP) is not None:
        out.append(Prefilter.GREP)
    if tools.find(tools.Tool.RIPGREP) is not None:
        out.append(Prefilter.RIPGREP)
    return out


class _Feeder:
    """Hands a decoded line to the parsers that asked for it."""

    def __init__(self, parsers: Sequence[LineParser]) -> None:
        self.parsers = parsers

    @property
    def wants_context(self) -> bool:
        return any(p.wants_context for p in self.parsers)

    def feed(self, lineno: int, raw: bytes) -> list[KillEvent]:
        raw = sniff.strip_nuls(raw)[:MAX_PARSED_LINE_BYTES]
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


def regular_file(stream: BinaryIO) -> bool:
    """True for a stream over a plain file's own bytes (finite; not a pipe or a decompressor:
    a GzipFile also has a fileno, the compressed file's)."""
    if not isinstance(stream, io.BufferedReader | io.BufferedRandom | io.FileIO):
        return False
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):  # ValueError: no real file descriptor
        return False


def scan(
    stream: BinaryIO,
    path: str,
    parsers: Sequence[LineParser],
    prefilter: Prefilter = Prefilter.AUTO,
) -> Iterator[KillEvent]:
    """Feed the lines of ``stream`` to ``parsers``; yield their events as they complete.

    ``path`` names the input in errors. Raises :class:`InputError` for a binary file. NUL
    bytes are skipped wherever they are (see :mod:`killproof.sources.sniff`).
    """
    try:
        at_start = stream.seekable() and stream.tell() == 0
    except OSError:
        at_start = False
    head = sniff.read_text_head(stream.read, path, regular_file(stream), PROBE_BYTES)
    feeder = _Feeder(parsers)
    external = _external(stream, at_start, prefilter)
    try:
        if external is not None:
            stream.seek(0)
            yield from _scan_external(stream, *external, feeder)
        else:
            yield from _scan_python(stream, head, feeder)
    except READ_ERRORS:
        # A read error or a damaged compressed stream: what was read before it stands (the
        # records still open, e.g. a kill waiting for its reaper line), then the error.
        yield from feeder.finish()
        raise
    yield from feeder.finish()


def scan_path(
    path: str | Path, parsers: Sequence[LineParser], prefilter: Prefilter = Prefilter.AUTO
) -> Iterator[KillEvent]:
    """:func:`scan` a file by name (``-`` is stdin; gzip-compressed logs are read through)."""
    name = str(path)
    if name == "-":
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
        chunk = sniff.strip_nuls(chunk)
        if not chunk and not eof:
            continue  # a block of NUL bytes (a zero-filled tail, a copytruncate hole)
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
        lineno = yield from _scan_buffer(buf, limit, lineno, needles, feeder)
        carry = buf[limit:]
        if len(carry) > MAX_LINE_BYTES:
            carry, skipping = carry[:MAX_LINE_BYTES], True
        if eof:
            break


def _scan_buffer(
    buf: bytes, limit: int, lineno: int, needles: Sequence[bytes], feeder: _Feeder
) -> Generator[KillEvent, None, int]:
    """Feed the anchored (and context) lines of ``buf[:limit]``, yielding events as they come
    (a 4 MiB chunk can hold 600,000 kill lines: never all at once); return the line count."""
    pos = 0
    found = {n: buf.find(n, 0, limit) for n in needles}
    while pos < limit:
        if feeder.wants_context:
            end = buf.find(b"\n", pos, limit)
            lineno += 1
            yield from feeder.feed(lineno, buf[pos:end])
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
        yield from feeder.feed(lineno, buf[start:end])
        pos = end + 1
    return lineno


# -- external prefilter ---------------------------------------------------------------------


def _external(
    stream: BinaryIO, at_start: bool, prefilter: Prefilter
) -> tuple[SearchTool, str] | None:
    """The searcher and file name to use, or None to scan in process."""
    if prefilter is Prefilter.PYTHON:
        return None
    name = getattr(stream, "name", None)
    try:
        usable = (
            isinstance(name, str)
            # the file's own bytes: a decompressing reader (GzipFile…) also has a name and
            # seeks, but the name is the compressed file's
            and isinstance(stream, io.BufferedReader | io.BufferedRandom | io.FileIO)
            and at_start
            and stat.S_ISREG(os.stat(name).st_mode)
        )
        size = os.stat(name).st_size if usable and isinstance(name, str) else 0
    except OSError:
        usable, size = False, 0
    tools = prefilter_tools
    wanted = (
        tools.best()
        if prefilter is Prefilter.AUTO
        else tools.find(tools.Tool.RIPGREP if prefilter is Prefilter.RIPGREP else tools.Tool.GREP)
    )
    if not usable or wanted is None or not isinstance(name, str):
        if prefilter is not Prefilter.AUTO:
            raise InputError(
                f"the {prefilter.value} prefilter needs that tool and a regular file", str(name)
            )
        return None
    if prefilter is Prefilter.AUTO and size < EXTERNAL_MIN_BYTES:
        return None
    return wanted, name


def _scan_external(
    stream: BinaryIO, search: SearchTool, name: str, feeder: _Feeder
) -> Iterator[KillEvent]:
    needles = sorted({a for p in feeder.parsers for a in p.anchors if a})
    # an anchor that contains another is found through the shorter one
    needles = [n for n in needles if not any(o != n and o in n for o in needles)]
    fed_to = 0  # last line number already fed
    for lineno, offset, raw in prefilter_tools.hits(search, needles, name):
        if lineno <= fed_to:
            continue  # already fed as a context line
        yield from feeder.feed(lineno, raw)
        fed_to = lineno
        if feeder.wants_context:
            stream.seek(offset)
            read_line(stream)  # the hit line itself (its length in bytes may have been cut)
            while feeder.wants_context and (line := read_line(stream)):
                fed_to += 1
                yield from feeder.feed(fed_to, line.rstrip(b"\n"))
