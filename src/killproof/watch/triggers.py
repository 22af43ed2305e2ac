"""When the watcher captures evidence: pure decisions over the newest sample and leak signal.

Each trigger has its own cooldown, so a service that sits above 80 % of its limit for an
hour yields one capture per cooldown, not one per sample. Time is an argument (seconds on
any monotonic clock); nothing here reads a clock or a file.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from killproof.analysis.leak_online import LeakSignal


class TriggerKind(enum.Enum):
    """Why a capture was taken (the names appear in capture file names)."""

    MEMORY_RATIO = "memory-ratio"
    """Memory above a share of the limit."""
    PROJECTED = "projected"
    """A significant upward trend reaches the limit within the horizon."""
    LEAK = "leak"
    """The online leak judge flagged a leak."""
    GOROUTINES = "goroutines"
    """More goroutines than the threshold."""
    GOROUTINES_GROWING = "goroutines-growing"
    """The online judge flagged the goroutine count as leaking."""


@dataclass(frozen=True)
class TriggerSettings:
    """Thresholds (a ratio of the limit, seconds, goroutines) and the cooldown (seconds)."""

    memory_ratio: float = 0.8
    projected_s: float = 600.0
    goroutines: int | None = None
    cooldown_s: float = 300.0
    min_confidence: float = 0.99
    """The trend behind a projection must be at least this sure (Mann–Kendall)."""


@dataclass(frozen=True)
class Reading:
    """What the triggers look at: memory and its limit (bytes), goroutines (count)."""

    memory_bytes: int | None
    limit_bytes: int | None
    goroutines: int | None = None


@dataclass
class Triggers:
    """The cooldown state of each trigger; :meth:`fire` says which are due now."""

    settings: TriggerSettings = field(default_factory=TriggerSettings)
    _last: dict[TriggerKind, float] = field(default_factory=dict)

    def fire(
        self,
        now_s: float,
        reading: Reading,
        signal: LeakSignal | None,
        goroutine_signal: LeakSignal | None = None,
    ) -> list[str]:
        """Reasons to capture now (``memory-82pct``, ``limit-in-240s`` …); each kind fires at
        most once per cooldown. ``goroutine_signal`` is the online judge on the goroutine
        count."""
        st = self.settings
        due: list[tuple[TriggerKind, str]] = []
        used, limit = reading.memory_bytes, reading.limit_bytes
        if used is not None and limit and used >= st.memory_ratio * limit:
            due.append((TriggerKind.MEMORY_RATIO, f"memory-{100 * used / limit:.0f}pct"))
        if signal is not None and signal.leaking:
            due.append((TriggerKind.LEAK, "leak-flagged"))
        if signal is not None and projected_within(signal, st.projected_s, st.min_confidence):
            assert signal.seconds_to_limit is not None
            due.append((TriggerKind.PROJECTED, f"limit-in-{signal.seconds_to_limit:.0f}s"))
        if st.goroutines is not None and (reading.goroutines or 0) > st.goroutines:
            due.append((TriggerKind.GOROUTINES, f"goroutines-{reading.goroutines}"))
        if goroutine_signal is not None and goroutine_signal.leaking:
            due.append((TriggerKind.GOROUTINES_GROWING, "goroutines-growing"))
        fired: list[str] = []
        for kind, reason in due:
            if now_s - self._last.get(kind, -math.inf) >= st.cooldown_s:
                self._last[kind] = now_s
                fired.append(reason)
        return fired


def projected_within(signal: LeakSignal, horizon_s: float, min_confidence: float) -> bool:
    """True when a significant upward trend reaches the limit within ``horizon_s``."""
    return (
        signal.seconds_to_limit is not None
        and signal.seconds_to_limit <= horizon_s
        and signal.confidence >= min_confidence
        and signal.slope_low_per_s > 0
    )
