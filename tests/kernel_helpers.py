"""Helpers for the kernel-parser tests: run a parser over text, lines or a file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from killproof.sources.kernel import KernelOomParser
from killproof.sources.logscan import Prefilter, scan_path
from killproof.sources.prefilter import Tool, find
from killproof.why.model import KillEvent

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernel"


def feed_all(lines: Iterable[str], path: str = "log") -> list[KillEvent]:
    """Feed every line to a fresh parser (no scanner), then finish."""
    parser = KernelOomParser(path)
    events: list[KillEvent] = []
    for number, line in enumerate(lines, 1):
        events.extend(parser.feed(number, line))
    events.extend(parser.finish())
    return events


def parse_text(text: str, path: str = "log") -> list[KillEvent]:
    """Events of a log given as one string."""
    return feed_all(text.splitlines(), path)


def scan_file(path: Path, prefilter: Prefilter = Prefilter.PYTHON) -> list[KillEvent]:
    """Events of a file through the scanner (anchored lines plus context only)."""
    return list(scan_path(path, [KernelOomParser(str(path))], prefilter))


def _has(tool: Tool) -> bool:
    return find(tool) is not None


PREFILTERS = [
    pytest.param(Prefilter.PYTHON, id="python"),
    pytest.param(
        Prefilter.GREP,
        id="grep",
        marks=pytest.mark.skipif(not _has(Tool.GREP), reason="GNU grep not on PATH"),
    ),
    pytest.param(
        Prefilter.RIPGREP,
        id="rg",
        marks=pytest.mark.skipif(not _has(Tool.RIPGREP), reason="ripgrep (rg) not installed"),
    ),
]
"""Every way the scanner finds anchored lines; the external ones skip where not installed."""
AVAILABLE_PREFILTERS = [
    p
    for p, tool in (
        (Prefilter.PYTHON, None),
        (Prefilter.GREP, Tool.GREP),
        (Prefilter.RIPGREP, Tool.RIPGREP),
    )
    if tool is None or _has(tool)
]
