"""The drill's judgements, as pure functions over ``(t_seconds, value)`` series.

- :func:`estimate_leak`: is memory (bytes) or the goroutine count growing at constant
  load, how fast, how sure, and when does it reach the limit? A GC sawtooth, a warm-up
  that levels off, or noise is not a leak.
- :func:`capacity`: the highest step that held the latency SLO without errors, and
  memory per request/s.
- :func:`detect_thrash`: pinned at the limit, the kernel reclaiming (failcnt climbing),
  latency or throughput collapsing, and no OOM kill coming.

No IO, no clock reads: times are in the series, and "now" is an argument.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from killproof.analysis.capacity import Capacity, Slo, StepVerdict, capacity, parse_slo
from killproof.analysis.thrash_verdict import ThrashThresholds, ThrashVerdict, detect_thrash
from killproof.analysis.trend import Point, TrendFit, clean, theil_sen, troughs
from killproof.model import JSONValue

__all__ = [
    "GOROUTINE_THRESHOLDS",
    "MEMORY_THRESHOLDS",
    "Capacity",
    "LeakEstimate",
    "LeakMetric",
    "LeakThresholds",
    "Point",
    "Slo",
    "StepVerdict",
    "ThrashThresholds",
    "ThrashVerdict",
    "capacity",
    "detect_thrash",
    "estimate_leak",
    "parse_slo",
]

MIB = 1024 * 1024


class LeakMetric(enum.Enum):
    """What a leak estimate is about (its unit is in :attr:`unit`)."""

    MEMORY = "memory"
    GOROUTINES = "goroutines"

    @property
    def unit(self) -> str:
        """``bytes`` or ``goroutines``."""
        return "bytes" if self is LeakMetric.MEMORY else "goroutines"


@dataclass(frozen=True)
class LeakThresholds:
    """When growth counts as a leak. Growth is in the series' unit over the window."""

    min_samples: int = 10
    min_window_s: float = 10.0
    min_confidence: float = 0.95
    min_growth: float = 4 * MIB
    """Absolute growth over the window below which nothing is called a leak."""
    min_growth_fraction: float = 0.05
    """…and growth relative to the starting level."""
    late_slope_ratio: float = 0.5
    """The second half must still climb at this fraction of the whole-window slope."""
    gc_drop_fraction: float = 0.1
    """A fall of more than this fraction between samples is a GC (sawtooth) drop."""
    floor_rise_ratio: float = 0.5
    """The minimum of the last third must exceed the first third's by this × the needed
    growth: a leak lifts the floor, a sawtooth or noise keeps coming back down."""


MEMORY_THRESHOLDS = LeakThresholds()
GOROUTINE_THRESHOLDS = LeakThresholds(min_growth=20, min_growth_fraction=0.1)


@dataclass(frozen=True)
class LeakEstimate:
    """The trend of one series over a constant-load window.

    Slopes are in the metric's unit per second (bytes/s or goroutines/s).
    """

    metric: LeakMetric
    leaking: bool
    slope_per_s: float
    slope_low_per_s: float
    slope_high_per_s: float
    confidence: float
    """Mann–Kendall confidence (0..1) that the series goes up."""
    window_s: float
    samples: int
    start_value: float
    end_value: float
    """Fitted values at the window's start and end."""
    growth: float
    """slope × window, in the metric's unit."""
    floor_slope_per_s: float | None
    """Slope of the GC troughs when the series is a sawtooth, else None."""
    limit: float | None
    seconds_to_limit: float | None
    """From the window's end to the limit at this slope; None unless leaking with a limit."""
    reason: str

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form (the drill report's ``leak`` entries)."""
        return {
            "metric": self.metric.value,
            "unit": self.metric.unit,
            "leaking": self.leaking,
            "slope_per_s": self.slope_per_s,
            "slope_low_per_s": self.slope_low_per_s,
            "slope_high_per_s": self.slope_high_per_s,
            "confidence": round(self.confidence, 4),
            "window_s": self.window_s,
            "samples": self.samples,
            "start_value": self.start_value,
            "end_value": self.end_value,
            "growth": self.growth,
            "floor_slope_per_s": self.floor_slope_per_s,
            "limit": self.limit,
            "seconds_to_limit": self.seconds_to_limit,
            "reason": self.reason,
        }


def estimate_leak(
    points: Sequence[Point],
    metric: LeakMetric = LeakMetric.MEMORY,
    limit: float | None = None,
    thresholds: LeakThresholds | None = None,
) -> LeakEstimate:
    """Judge whether ``points`` (one constant-load window) grow like a leak.

    A leak needs all of: enough samples and time; Mann–Kendall confidence and a Sen
    interval above zero; growth above both the absolute and the relative floor; the
    window's second half still climbing (a warm-up levels off); and, for a GC sawtooth,
    the troughs rising (a healthy heap returns to the same floor after each GC).
    """
    th = thresholds or (MEMORY_THRESHOLDS if metric is LeakMetric.MEMORY else GOROUTINE_THRESHOLDS)
    pts = clean(points)
    window = pts[-1][0] - pts[0][0] if pts else 0.0
    fit = theil_sen(pts) if len(pts) >= th.min_samples and window >= th.min_window_s else None
    if fit is None:
        return _no_estimate(metric, pts, window, limit, th)
    start, end = fit.at(pts[0][0]), fit.at(pts[-1][0])
    growth = fit.slope * window
    floor_fit = _floor_fit(pts, th)
    reason = _why_not(pts, fit, floor_fit, th, metric)
    leaking = reason == ""
    to_limit = None
    if leaking and limit is not None:
        to_limit = max(0.0, (limit - max(end, pts[-1][1])) / fit.slope)
    return LeakEstimate(
        metric=metric,
        leaking=leaking,
        slope_per_s=fit.slope,
        slope_low_per_s=fit.slope_low,
        slope_high_per_s=fit.slope_high,
        confidence=fit.confidence_up,
        window_s=window,
        samples=len(pts),
        start_value=start,
        end_value=end,
        growth=growth,
        floor_slope_per_s=floor_fit.slope if floor_fit else None,
        limit=limit,
        seconds_to_limit=to_limit,
        reason=reason or _leak_reason(metric, fit, to_limit),
    )


def _floor_fit(pts: list[Point], th: LeakThresholds) -> TrendFit | None:
    floor = troughs(pts, th.gc_drop_fraction)
    return theil_sen(floor) if len(floor) >= 3 else None


def _amount(metric: LeakMetric, value: float) -> str:
    """``1.1 MiB`` for memory, ``12`` for goroutines."""
    return f"{value / MIB:.1f} MiB" if metric is LeakMetric.MEMORY else f"{value:.0f}"


def _why_not(
    pts: list[Point],
    fit: TrendFit,
    floor_fit: TrendFit | None,
    th: LeakThresholds,
    metric: LeakMetric = LeakMetric.MEMORY,
) -> str:
    """'' when the window looks like a leak, else the first reason it does not."""
    window = pts[-1][0] - pts[0][0]
    growth, start = fit.slope * window, fit.at(pts[0][0])
    if fit.confidence_up < th.min_confidence or fit.slope_low <= 0:
        return f"no significant upward trend (confidence {fit.confidence_up:.2f})"
    needed = max(th.min_growth, th.min_growth_fraction * abs(start))
    if growth < needed:
        return (
            f"growth {_amount(metric, growth)} over {window:.1f} s is below "
            f"{_amount(metric, needed)}"
        )
    half = pts[0][0] + window / 2
    late = theil_sen([p for p in pts if p[0] >= half])
    if late is None or late.slope < th.late_slope_ratio * fit.slope:
        return "growth levels off in the second half of the window (warm-up, not a leak)"
    if floor_fit is not None and floor_fit.slope * window < needed:
        return "GC sawtooth with a flat floor: memory is reclaimed after each cycle"
    third = window / 3
    first_floor = min(v for t, v in pts if t <= pts[0][0] + third)
    last_floor = min(v for t, v in pts if t >= pts[-1][0] - third)
    if last_floor - first_floor < th.floor_rise_ratio * needed:
        return "the floor does not rise: the series falls back to where it started"
    return ""


def _leak_reason(metric: LeakMetric, fit: TrendFit, to_limit: float | None) -> str:
    rate = f"{fit.slope / MIB:.2f} MiB/s" if metric is LeakMetric.MEMORY else f"{fit.slope:.2f}/s"
    text = f"{metric.value} grows {rate} at constant load (confidence {fit.confidence_up:.3f})"
    if to_limit is not None:
        text += f"; reaches the limit in {to_limit:.1f} s"
    return text


def _no_estimate(
    metric: LeakMetric, pts: list[Point], window: float, limit: float | None, th: LeakThresholds
) -> LeakEstimate:
    value = pts[-1][1] if pts else 0.0
    return LeakEstimate(
        metric=metric,
        leaking=False,
        slope_per_s=0.0,
        slope_low_per_s=0.0,
        slope_high_per_s=0.0,
        confidence=0.0,
        window_s=window,
        samples=len(pts),
        start_value=pts[0][1] if pts else 0.0,
        end_value=value,
        growth=0.0,
        floor_slope_per_s=None,
        limit=limit,
        seconds_to_limit=None,
        reason=(
            f"not enough data ({len(pts)} samples over {window:.1f} s; "
            f"need {th.min_samples} over {th.min_window_s:.0f} s)"
        ),
    )
