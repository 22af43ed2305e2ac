"""Thrash: a service pinned at its memory limit that the kernel will not kill.

Seen with a Go binary in a 64M cgroup v1: usage sits at the limit, the kernel keeps
reclaiming the process's own page cache (its binary's text pages), ``memory.failcnt``
climbs, latency collapses — and no OOM kill comes for tens of seconds. The drill must
call that a verdict of its own instead of waiting for a kill. Pure: the orchestrator
passes the series and "now" from its clock, so this runs on every sampler tick.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from killproof.analysis.trend import Point, clean
from killproof.model import JSONValue


@dataclass(frozen=True)
class ThrashThresholds:
    """When pinned-at-the-limit counts as thrashing."""

    pinned_fraction: float = 0.95
    """Usage at or above this fraction of the limit is "pinned"."""
    dip_tolerance_s: float = 2.0
    """Dips below the line shorter than this do not end a pinned stretch, seconds."""
    min_pinned_s: float = 20.0
    latency_collapse_ratio: float = 5.0
    """Median latency while pinned ≥ this × before pinned is a collapse."""
    throughput_collapse_ratio: float = 0.5
    """Median throughput while pinned ≤ this × before pinned is a collapse."""


@dataclass(frozen=True)
class ThrashVerdict:
    """Whether the service is thrashing at its limit, with the numbers that say so."""

    thrashing: bool
    pinned_since_s: float | None
    """Clock time the current pinned stretch began, seconds (None: not pinned now)."""
    pinned_for_s: float
    failcnt_rate_per_s: float
    """Increase of the limit-hit counter per second while pinned."""
    latency_ratio: float | None
    """Median latency while pinned over before it (None without both)."""
    throughput_ratio: float | None
    oom_kills: int
    """OOM kills seen during the pinned stretch (any means this is an OOM, not thrash)."""
    reason: str

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form."""
        return {
            "thrashing": self.thrashing,
            "pinned_since_s": self.pinned_since_s,
            "pinned_for_s": round(self.pinned_for_s, 3),
            "failcnt_rate_per_s": round(self.failcnt_rate_per_s, 3),
            "latency_ratio": self.latency_ratio,
            "throughput_ratio": self.throughput_ratio,
            "oom_kills": self.oom_kills,
            "reason": self.reason,
        }


def pinned_since(memory: Sequence[Point], limit_bytes: float, th: ThrashThresholds) -> float | None:
    """Start of the pinned stretch that reaches the last sample, or None if not pinned now."""
    pts = clean(memory)
    line = th.pinned_fraction * limit_bytes
    if not pts or pts[-1][1] < line:
        return None
    since = pts[-1][0]
    below_from: float | None = None
    for t, value in reversed(pts):
        if value >= line:
            since, below_from = t, None
            continue
        below_from = t if below_from is None else below_from
        if below_from - t >= th.dip_tolerance_s:
            break
    return since


def _median_in(points: Sequence[Point], start: float, end: float) -> float | None:
    values = [v for t, v in clean(points) if start <= t <= end]
    return statistics.median(values) if values else None


def _ratio(after: float | None, before: float | None) -> float | None:
    if after is None or before is None or before <= 0:
        return None
    return after / before


def detect_thrash(
    memory_bytes: Sequence[Point],
    limit_bytes: float,
    failcnt: Sequence[Point],
    now_s: float,
    *,
    latency_ms: Sequence[Point] = (),
    throughput_rps: Sequence[Point] = (),
    oom_kill_times_s: Sequence[float] = (),
    thresholds: ThrashThresholds | None = None,
) -> ThrashVerdict:
    """Decide whether the service is thrashing at ``limit_bytes`` as of ``now_s``.

    ``failcnt`` is a cumulative limit-hit counter (cgroup v1 ``memory.failcnt``, v2
    ``memory.events`` ``max``). Thrashing needs: pinned for at least ``min_pinned_s``;
    the counter climbing; no OOM kill in the stretch; and, when latency or throughput
    series are given with a baseline before the stretch, one of them collapsed.
    """
    th = thresholds or ThrashThresholds()
    since = pinned_since(memory_bytes, limit_bytes, th)
    if since is None:
        return ThrashVerdict(False, None, 0.0, 0.0, None, None, 0, "not at the limit")
    pinned_for = max(0.0, now_s - since)
    kills = sum(1 for t in oom_kill_times_s if t >= since)
    counts = [(t, v) for t, v in clean(failcnt) if t >= since]
    rate = (counts[-1][1] - counts[0][1]) / pinned_for if len(counts) >= 2 and pinned_for else 0.0
    baseline_end = since - 1e-9
    lat = _ratio(_median_in(latency_ms, since, now_s), _median_in(latency_ms, -1e18, baseline_end))
    thr = _ratio(
        _median_in(throughput_rps, since, now_s), _median_in(throughput_rps, -1e18, baseline_end)
    )

    def verdict(thrashing: bool, reason: str) -> ThrashVerdict:
        return ThrashVerdict(thrashing, since, pinned_for, rate, lat, thr, kills, reason)

    if kills:
        return verdict(False, "OOM-killed while at the limit (an OOM, not thrash)")
    if pinned_for < th.min_pinned_s:
        return verdict(False, f"at the limit for {pinned_for:.0f}s (< {th.min_pinned_s:g}s)")
    if rate <= 0:
        return verdict(False, "at the limit but the kernel is not failing charges")
    collapsed = (lat is not None and lat >= th.latency_collapse_ratio) or (
        thr is not None and thr <= th.throughput_collapse_ratio
    )
    if (lat is not None or thr is not None) and not collapsed:
        return verdict(False, "at the limit, reclaiming, but still serving normally")
    detail = []
    if lat is not None:
        detail.append(f"latency ×{lat:.1f}")
    if thr is not None:
        detail.append(f"throughput ×{thr:.2f}")
    summary = f"pinned at the limit for {pinned_for:.0f}s, failcnt +{rate:.0f}/s"
    summary += (", " + ", ".join(detail) if detail else "") + ", no OOM kill"
    return verdict(True, summary)
