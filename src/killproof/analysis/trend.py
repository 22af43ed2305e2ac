"""Robust trend statistics over ``(t_seconds, value)`` series: Theil–Sen and Mann–Kendall.

Theil–Sen takes the median of all pairwise slopes, so a GC that halves the heap for one
sample, or a scrape that returns garbage, moves it little. Mann–Kendall gives the
confidence that the series goes up at all. Both are O(n²); long series are thinned
evenly to ``MAX_POINTS`` first, which keeps a 10 Hz minute-long step under 100 ms.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float]
"""``(t_seconds, value)``."""

MAX_POINTS = 300
_Z95 = 1.959964


@dataclass(frozen=True)
class TrendFit:
    """A Theil–Sen line ``value = intercept + slope * t`` (units of the series per second)."""

    slope: float
    intercept: float
    slope_low: float
    """Lower end of the ~95 % confidence interval of the slope (Sen's method)."""
    slope_high: float
    confidence_up: float
    """Mann–Kendall confidence (0..1) that the series increases."""
    samples: int

    def at(self, t: float) -> float:
        """The fitted value at ``t`` seconds."""
        return self.intercept + self.slope * t


def thin(points: Sequence[Point], limit: int = MAX_POINTS) -> list[Point]:
    """At most ``limit`` points, evenly spaced in index, first and last kept."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def clean(points: Sequence[Point]) -> list[Point]:
    """Finite points sorted by time (NaN/inf readings dropped)."""
    return sorted((t, v) for t, v in points if math.isfinite(t) and math.isfinite(v))


def theil_sen(points: Sequence[Point]) -> TrendFit | None:
    """Fit a robust line; None when fewer than 3 points or no two distinct times."""
    pts = thin(clean(points))
    n = len(pts)
    if n < 3:
        return None
    slopes: list[float] = []
    sign_sum = 0
    for i in range(n):
        ti, vi = pts[i]
        for j in range(i + 1, n):
            tj, vj = pts[j]
            if vj > vi:
                sign_sum += 1
            elif vj < vi:
                sign_sum -= 1
            if tj > ti:
                slopes.append((vj - vi) / (tj - ti))
    if not slopes:
        return None
    slopes.sort()
    slope = _median_sorted(slopes)
    intercept = _median_sorted(sorted(v - slope * t for t, v in pts))
    variance = _kendall_variance([v for _, v in pts])
    low, high = _sen_interval(slopes, variance)
    return TrendFit(slope, intercept, low, high, _mk_confidence(sign_sum, variance), n)


def _median_sorted(values: Sequence[float]) -> float:
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _kendall_variance(values: Sequence[float]) -> float:
    n = len(values)
    ties = Counter(values).values()
    return (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18


def _sen_interval(slopes: Sequence[float], variance: float) -> tuple[float, float]:
    """Sen's distribution-free interval: ranks (N ∓ z·sqrt(var S)) / 2 of the sorted slopes."""
    count = len(slopes)
    spread = _Z95 * math.sqrt(max(variance, 0.0))
    lower = max(0, math.floor((count - spread) / 2))
    upper = min(count - 1, math.ceil((count + spread) / 2))
    return slopes[lower], slopes[upper]


def _mk_confidence(sign_sum: int, variance: float) -> float:
    """One-sided confidence that the trend is upward (Mann–Kendall, continuity-corrected)."""
    if variance <= 0:
        return 0.5
    corrected = sign_sum - 1 if sign_sum > 0 else sign_sum + 1 if sign_sum < 0 else 0
    z = corrected / math.sqrt(variance)
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def troughs(points: Sequence[Point], drop_fraction: float) -> list[Point]:
    """The lowest point after each drop of more than ``drop_fraction`` (a GC sawtooth's floor).

    A drop is a fall of more than ``drop_fraction`` of the value before it. Each trough is
    the minimum reached before the series climbs again.
    """
    pts = clean(points)
    found: list[Point] = []
    i = 1
    while i < len(pts):
        before = pts[i - 1][1]
        if before > 0 and (before - pts[i][1]) > drop_fraction * before:
            low = pts[i]
            while i + 1 < len(pts) and pts[i + 1][1] <= low[1]:
                i += 1
                low = pts[i]
            found.append(low)
        i += 1
    return found
