"""What a load step achieved, as frozen values the drill rules and analyses read.

Produced by the load engines (:mod:`killproof.drill.load`, :mod:`killproof.drill.load_wrk`)
from a :class:`~killproof.drill.load_plan.LoadPlan`. Latencies are milliseconds from the
*intended* send time (wrk2's correction for coordinated omission); times are seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from killproof.model import JSONValue


class LoadModel(enum.Enum):
    """How arrivals are paced in a step."""

    OPEN = "open"
    """Constant arrival rate, independent of responses (wrk2, k6 arrival-rate)."""
    CLOSED = "closed"
    """Each connection sends its next request when the previous one is answered (wrk)."""


@dataclass(frozen=True)
class WindowStats:
    """One progress interval of a step (about a second): what a latency or throughput
    time series is made of (the thrash verdict looks for a collapse in these)."""

    t_s: float
    """Clock time at the end of the window, seconds."""
    duration_s: float
    completed: int
    errors: int
    rate_rps: float
    """Responses per second in this window."""
    p50_ms: float
    p99_ms: float
    """Latency percentiles of the responses in this window (0 when there were none), ms."""

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form."""
        return {
            "t_s": round(self.t_s, 3),
            "duration_s": round(self.duration_s, 3),
            "completed": self.completed,
            "errors": self.errors,
            "rate_rps": round(self.rate_rps, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
        }


@dataclass(frozen=True)
class StepResult:
    """What one step achieved. Latencies are milliseconds from the intended send time."""

    index: int
    model: LoadModel
    rate_asked_rps: float
    rate_achieved_rps: float
    """Responses (any status) per second of step time."""
    duration_s: float
    """How long the step actually ran, seconds (shorter when stopped)."""
    sent: int
    completed: int
    unsent: int
    """Requests that came due but could not be started before the step ended."""
    errors: tuple[tuple[str, int], ...]
    """Failures by kind (``http_500``, ``refused``, ``reset``, ``disconnected``, ``timeout``)."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    service_p99_ms: float
    """p99 from the actual send time (what the service alone took), milliseconds."""
    histogram: str
    """HdrHistogram V2, base64, microseconds from the intended send time ('' if none)."""
    stopped_early: bool = False
    timeline: tuple[WindowStats, ...] = ()
    """Per-second windows of the step (empty for the wrk engine)."""

    @property
    def error_count(self) -> int:
        """Failed requests of every kind."""
        return sum(count for _, count in self.errors)

    @property
    def error_ratio(self) -> float:
        """Failed requests over requests sent (0 when nothing was sent)."""
        return self.error_count / self.sent if self.sent else 0.0

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form (key names are part of the drill report contract)."""
        return {
            "index": self.index,
            "model": self.model.value,
            "rate_asked_rps": self.rate_asked_rps,
            "rate_achieved_rps": round(self.rate_achieved_rps, 3),
            "duration_s": round(self.duration_s, 3),
            "sent": self.sent,
            "completed": self.completed,
            "unsent": self.unsent,
            "errors": dict(self.errors),
            "error_ratio": round(self.error_ratio, 6),
            "p50_ms": round(self.p50_ms, 3),
            "p90_ms": round(self.p90_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "service_p99_ms": round(self.service_p99_ms, 3),
            "histogram": self.histogram,
            "stopped_early": self.stopped_early,
            "timeline": [w.to_json() for w in self.timeline],
        }
