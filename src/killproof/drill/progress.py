"""The live progress line of a drill, on stderr, with rich (only on a terminal).

``step 2/3  200/s → 198/s  p50 1.9ms  p99 4.2ms  errors 0  memory 41.3/64.0 MiB (65%)``
"""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from killproof.drill.run import DrillProgress


def progress_line(p: DrillProgress) -> str:
    """One line describing the drill's state (plain text)."""
    limit = p.limit_bytes / (1 << 20)
    if p.memory_bytes is None:
        memory = f"memory ?/{limit:.0f} MiB"
    else:
        used = p.memory_bytes / (1 << 20)
        pct = 100 * p.memory_bytes / p.limit_bytes if p.limit_bytes else 0
        memory = f"memory {used:.1f}/{limit:.0f} MiB ({pct:.0f}%)"
    if p.phase != "load":
        return f"{p.phase}…  {memory}"
    return (
        f"step {p.step + 1}/{p.steps_total}  {p.rate_asked:g}/s → {p.rate_achieved:.0f}/s  "
        f"p50 {p.p50_ms:.1f}ms  p99 {p.p99_ms:.1f}ms  errors {p.errors}  {memory}"
    )


class ProgressDisplay:
    """A context manager; :meth:`update` is the drill's progress sink."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._live: Live | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            console = Console(file=sys.stderr)
            self._live = Live(
                Text("starting…"), console=console, refresh_per_second=4, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    def update(self, p: DrillProgress) -> None:
        """Show ``p`` (no-op when disabled)."""
        if self._live is not None:
            self._live.update(Text(progress_line(p)))
