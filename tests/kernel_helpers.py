"""Helpers for the kernel-parser tests: run a parser over text, lines or a file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from killproof.sources.kernel import KernelOomParser
from killproof.sources.logscan import Prefilter, scan_path
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
