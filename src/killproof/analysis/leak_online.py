"""Online leak judgement: decide *as samples arrive* whether memory (or goroutines) leaks.

The after-the-fact judge (``drill.analysis.estimate_leak``) sees a whole load step; a
recorder that must warn before the kill cannot wait for the end. :class:`OnlineLeakJudge`
keeps a bounded window of the most recent samples, in fixed-width time bins (each keeps the
mean and the minimum of its samples, so memory stays bounded at any sampling rate) and,
every :attr:`OnlineLeakSettings.every_s` seconds, fits a Theil–Sen line (the median of the
pairwise slopes) with a Mann–Kendall confidence. It flags a leak when, for
:attr:`~OnlineLeakSettings.confirmations` evaluations in a row:

- the window spans at least ``min_span_s`` and the upward trend is significant (confidence
  and the lower end of Sen's slope interval above zero);
- the fitted growth over the window exceeds both an absolute and a relative floor;
- the most recent part of the window still climbs at a good fraction of the window's slope
  (a warm-up, or a bounded cache that has filled, levels off);
- the floor rises: the lowest bin of the window's last third is above the lowest of its
  first third (a GC sawtooth and noise keep coming back down).

A series whose values stay within a band narrower than ``floor_rise_ratio`` × the needed
growth can therefore never be flagged, whatever its shape: that is the no-false-alarm
property the tests check with hypothesis.

Units: ``t_s`` seconds, values in the series' unit (bytes or goroutines), slopes per second.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

MIB = 1024 * 1024
_Z95 = 1.959964


@dataclass(frozen=True)
class OnlineLeakSettings:
    """When the online judge calls a leak (seconds, the series' unit)."""

    window_s: float = 300.0
    """The trend is judged over at most this many recent seconds."""
    max_bins: int = 600
    """Bins kept (bounded memory): the bin width is ``window_s / max_bins``."""
    fit_points: int = 60
    """At most this many bins enter a fit (thinned evenly): bounds the O(n²) Theil–Sen."""
    every_s: float = 0.5
    """Seconds between evaluations."""
    min_span_s: float = 4.0
    min_bins: int = 8
    min_confidence: float = 0.99
    min_growth: float = 4 * MIB
    """Absolute growth over the window below which nothing is called a leak."""
    min_growth_fraction: float = 0.05
    """…and growth relative to the level at the window's start."""
    recent_fraction: float = 0.25
    """The last part of the window (this fraction of it, and at least ``recent_min_s``) must
    still climb…"""
    recent_min_s: float = 2.0
    recent_slope_ratio: float = 0.5
    """…at at least this fraction of the window's slope."""
    floor_rise_ratio: float = 0.5
    """The lowest bin of the last third must exceed the first third's by this × the needed
    growth."""
    confirmations: int = 2
    """Consecutive evaluations that must all call it a leak before it is flagged."""
    clearances: int = 6
    """Consecutive evaluations that must all *not* call it a leak before a flag is
    withdrawn (a leak's GC pauses are short flat spots; a filled cache stays flat)."""


MEMORY_SETTINGS = OnlineLeakSettings()
GOROUTINE_SETTINGS = OnlineLeakSettings(min_growth=20, min_growth_fraction=0.1)


@dataclass(frozen=True)
class LeakSignal:
    """One evaluation of the online judge, as of ``t_s``."""

    t_s: float
    leaking: bool
    """Flagged: ``confirmations`` evaluations in a row called a leak, and ``clearances`` in
    a row have not withdrawn it since."""
    called: bool
    """This evaluation alone calls a leak."""
    slope_per_s: float
    slope_low_per_s: float
    confidence: float
    """Mann–Kendall confidence (0..1) that the window goes up."""
    level: float
    """The current level: the fitted value now, or the newest bin's mean if higher."""
    window_s: float
    bins: int
    limit: float | None
    seconds_to_limit: float | None
    """From ``t_s`` to the limit at the fitted slope (None without a limit or a rise)."""
    reason: str

    def to_json(self) -> dict[str, float | int | bool | str | None]:
        """JSON form (seconds, the series' unit)."""
        return {
            "t_s": round(self.t_s, 3),
            "leaking": self.leaking,
            "called": self.called,
            "slope_per_s": self.slope_per_s,
            "slope_low_per_s": self.slope_low_per_s,
            "confidence": round(self.confidence, 4),
            "level": self.level,
            "window_s": round(self.window_s, 3),
            "bins": self.bins,
            "limit": self.limit,
            "seconds_to_limit": (
                None if self.seconds_to_limit is None else round(self.seconds_to_limit, 3)
            ),
            "reason": self.reason,
        }


@dataclass
class _Bin:
    t_s: float
    total: float
    count: int
    low: float

    @property
    def mean(self) -> float:
        return self.total / self.count


@dataclass(frozen=True)
class _Fit:
    slope: float
    intercept: float
    slope_low: float
    confidence: float

    def at(self, t: float) -> float:
        return self.intercept + self.slope * t


class OnlineLeakJudge:
    """Feed it ``observe(t_s, value)`` in time order; it answers with a :class:`LeakSignal`
    each time it evaluates (every ``every_s`` seconds), ``None`` in between.

    ``limit`` (the series' unit) gives the projected time to the limit; ``reset()`` forgets
    the window (the drill calls it when the load rate changes: a new level is no leak).
    """

    def __init__(self, limit: float | None = None, settings: OnlineLeakSettings | None = None):
        self.limit = limit
        self.settings = settings or MEMORY_SETTINGS
        self._bin_s = self.settings.window_s / self.settings.max_bins
        self._bins: deque[_Bin] = deque(maxlen=self.settings.max_bins)
        self._next_eval = -math.inf
        self._streak = 0
        self._misses = 0
        self._flagged = False
        self.latest: LeakSignal | None = None
        """The newest evaluation."""
        self.first_flagged: LeakSignal | None = None
        """The first evaluation that flagged a leak (kept across ``reset``)."""
        self.withdrawn: LeakSignal | None = None
        """The last evaluation that withdrew a flag (a warm-up or a cache that filled)."""

    def reset(self) -> None:
        """Forget the window and the streak (not :attr:`first_flagged`)."""
        self._bins.clear()
        self._streak = self._misses = 0
        self._flagged = False
        self._next_eval = -math.inf

    def observe(self, t_s: float, value: float) -> LeakSignal | None:
        """Add one reading; evaluate when due. Non-finite readings are ignored."""
        if not (math.isfinite(t_s) and math.isfinite(value)):
            return None
        last = self._bins[-1] if self._bins else None
        if last is not None and t_s < last.t_s:
            return None  # out of order: time never goes back in a sampler
        if last is not None and t_s - last.t_s < self._bin_s:
            last.total += value
            last.count += 1
            last.low = min(last.low, value)
        else:
            self._bins.append(_Bin(t_s, value, 1, value))
        while self._bins and t_s - self._bins[0].t_s > self.settings.window_s:
            self._bins.popleft()
        if t_s < self._next_eval:
            return None
        self._next_eval = t_s + self.settings.every_s
        return self._evaluate(t_s)

    def _evaluate(self, now: float) -> LeakSignal:
        st = self.settings
        bins = list(self._bins)
        points = [(b.t_s, b.mean) for b in bins]
        span = bins[-1].t_s - bins[0].t_s
        fit = theil_sen(thin(points, st.fit_points)) if len(bins) >= 3 else None
        if fit is None or span < st.min_span_s or len(bins) < st.min_bins:
            reason = (
                f"not enough data ({len(bins)} bins over {span:.1f} s; "
                f"need {st.min_bins} over {st.min_span_s:g} s)"
            )
            return self._record(now, None, bins, span, reason)
        return self._record(now, fit, bins, span, _why_not(bins, fit, span, st))

    def _record(
        self, now: float, fit: _Fit | None, bins: list[_Bin], span: float, reason: str
    ) -> LeakSignal:
        called = fit is not None and reason == ""
        self._streak = self._streak + 1 if called else 0
        self._misses = 0 if called else self._misses + 1
        was = self._flagged
        if self._streak >= self.settings.confirmations:
            self._flagged = True
        elif self._misses >= self.settings.clearances:
            self._flagged = False
        leaking = self._flagged
        level = bins[-1].mean
        to_limit = None
        if fit is not None:
            level = max(fit.at(now), level)
            if self.limit is not None and fit.slope > 0:
                to_limit = max(0.0, (self.limit - level) / fit.slope)
        if called and not leaking:
            reason = f"a leak, to be confirmed ({self._streak} of {self.settings.confirmations})"
        elif called and fit is not None:
            reason = _leak_reason(fit, to_limit)
        elif leaking:
            reason = f"still flagged ({self._misses} of {self.settings.clearances} to withdraw): {reason}"
        signal = LeakSignal(
            t_s=now,
            leaking=leaking,
            called=called,
            slope_per_s=fit.slope if fit else 0.0,
            slope_low_per_s=fit.slope_low if fit else 0.0,
            confidence=fit.confidence if fit else 0.0,
            level=level,
            window_s=span,
            bins=len(bins),
            limit=self.limit,
            seconds_to_limit=to_limit,
            reason=reason,
        )
        self.latest = signal
        if leaking and self.first_flagged is None:
            self.first_flagged = signal
        if was and not leaking:
            self.withdrawn = signal
        return signal


def _why_not(bins: list[_Bin], fit: _Fit, span: float, st: OnlineLeakSettings) -> str:
    """'' when the window looks like a leak, else the first reason it does not."""
    if fit.confidence < st.min_confidence or fit.slope_low <= 0:
        return f"no significant upward trend (confidence {fit.confidence:.3f})"
    t0, t1 = bins[0].t_s, bins[-1].t_s
    needed = max(st.min_growth, st.min_growth_fraction * abs(fit.at(t0)))
    if fit.slope * span < needed:
        return f"growth {fit.slope * span:.4g} over {span:.1f} s is below {needed:.4g}"
    recent_s = max(st.recent_fraction * span, st.recent_min_s)
    recent = [(b.t_s, b.mean) for b in bins if b.t_s >= t1 - recent_s]
    late = theil_sen(thin(recent, st.fit_points)) if len(recent) >= 3 else None
    if late is None or late.slope < st.recent_slope_ratio * fit.slope:
        return "growth levels off at the end of the window (a warm-up or a filled cache)"
    third = span / 3
    first_floor = min(b.low for b in bins if b.t_s <= t0 + third)
    last_floor = min(b.low for b in bins if b.t_s >= t1 - third)
    if last_floor - first_floor < st.floor_rise_ratio * needed:
        return "the floor does not rise: the series falls back to where it was"
    return ""


def _leak_reason(fit: _Fit, to_limit: float | None) -> str:
    text = f"grows {fit.slope:.4g}/s (confidence {fit.confidence:.3f})"
    if to_limit is not None:
        text += f"; reaches the limit in {to_limit:.1f} s at this rate"
    return text


def thin(points: Sequence[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most ``limit`` points, evenly spaced in index, first and last kept."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def theil_sen(points: Sequence[tuple[float, float]]) -> _Fit | None:
    """Theil–Sen line with Sen's ~95 % lower slope bound and the Mann–Kendall one-sided
    confidence of an upward trend; None without two distinct times."""
    n = len(points)
    slopes: list[float] = []
    sign_sum = 0
    for i in range(n):
        ti, vi = points[i]
        for j in range(i + 1, n):
            tj, vj = points[j]
            sign_sum += (vj > vi) - (vj < vi)
            if tj > ti:
                slopes.append((vj - vi) / (tj - ti))
    if not slopes:
        return None
    slopes.sort()
    slope = _median(slopes)
    intercept = _median(sorted(v - slope * t for t, v in points))
    ties = Counter(v for _, v in points).values()
    variance = (n * (n - 1) * (2 * n + 5) - sum(k * (k - 1) * (2 * k + 5) for k in ties)) / 18
    spread = _Z95 * math.sqrt(max(variance, 0.0))
    low = slopes[max(0, math.floor((len(slopes) - spread) / 2))]
    if variance <= 0:
        confidence = 0.5
    else:
        corrected = sign_sum - (sign_sum > 0) + (sign_sum < 0)
        confidence = 0.5 * (1 + math.erf(corrected / math.sqrt(variance) / math.sqrt(2)))
    return _Fit(slope, intercept, low, confidence)


def _median(values: Sequence[float]) -> float:
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
