"""The contract between log scanning and the line-based evidence parsers.

A log of any size is read once, in constant memory. Each :class:`LineParser` names the
literal substrings (``anchors``) of the lines it cares about; the scanner feeds it every
line that contains one of them, and, while the parser says ``wants_context``, every line
that follows (the kernel's OOM report, for instance, spans a task table with no anchor).
Parsers keep only the state of the record they are reading and hand back each
:class:`~killproof.facts.kill.KillEvent` as soon as it is complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from killproof.facts.kill import KillEvent


class LineParser(Protocol):
    """A streaming parser of one kind of line-based evidence."""

    anchors: tuple[str, ...]
    """Literal substrings: a line containing any of them is fed to :meth:`feed`."""

    @property
    def wants_context(self) -> bool:
        """True while the parser needs every following line, anchored or not."""
        ...

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line (1-based ``lineno``, no trailing newline); return finished events."""
        ...

    def finish(self) -> Iterable[KillEvent]:
        """End of input: return whatever events are still open."""
        ...
