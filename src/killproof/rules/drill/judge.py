"""Turn a drill's raw series into judgements: leak per step, capacity, thrash.

Pure functions of a :class:`DrillResult`. The statistics (Theil–Sen with Mann–Kendall
confidence, capacity against the SLO, the thrash verdict) are
:mod:`killproof.analysis.leak`'s; this module picks the windows — each load step at
constant rate, minus its warm-up — and scales the minimum window to the step length, so a
short drill can still call a leak that is steep enough.

Units: bytes, seconds, goroutines, requests per second, milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from killproof.analysis.leak import (
    GOROUTINE_THRESHOLDS,
    MEMORY_THRESHOLDS,
    Capacity,
    LeakEstimate,
    LeakMetric,
    Slo,
    StepVerdict,
    ThrashThresholds,
    ThrashVerdict,
    capacity,
    detect_thrash,
    estimate_leak,
)
from killproof.facts.drill import DrillResult, Sample
from killproof.facts.load import StepResult

WARMUP_FRACTION = 0.2
"""The first part of each step is left out: heaps and pools grow while the rate settles."""
LEAK_HORIZON_S = 3600.0
"""A leak that would reach the limit later than this is still reported, as a warning."""


@dataclass(frozen=True)
class StepTrend:
    """The leak estimate of one series over one load step's window (seconds since start)."""

    step: int
    start_s: float
    end_s: float
    estimate: LeakEstimate

    def to_json(self) -> dict[str, object]:
        """JSON form: the step and window, then the estimate's fields."""
        return {
            "step": self.step,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            **self.estimate.to_json(),
        }


def step_windows(samples: Sequence[Sample]) -> dict[int, list[Sample]]:
    """Samples of each load step after its warm-up, up to (not after) an OOM kill."""
    by_step: dict[int, list[Sample]] = {}
    for s in samples:
        if s.step >= 0 and not s.oom_kills:
            by_step.setdefault(s.step, []).append(s)
    out: dict[int, list[Sample]] = {}
    for step, group in sorted(by_step.items()):
        t0, t1 = group[0].t_s, group[-1].t_s
        cut = t0 + WARMUP_FRACTION * (t1 - t0)
        out[step] = [s for s in group if s.t_s >= cut]
    return out


def trends(result: DrillResult, metric: LeakMetric) -> list[StepTrend]:
    """One leak estimate per load step for memory (bytes) or goroutines."""
    out: list[StepTrend] = []
    memory = metric is LeakMetric.MEMORY
    for step, group in step_windows(result.samples).items():
        points = [
            (s.t_s, float(v))
            for s in group
            if (v := (s.memory_bytes if memory else s.goroutines)) is not None
        ]
        if len(points) < 2:
            continue
        window = points[-1][0] - points[0][0]
        base = MEMORY_THRESHOLDS if memory else GOROUTINE_THRESHOLDS
        # Drill steps are often shorter than the analysis's default 10 s window.
        th = replace(
            base,
            min_window_s=min(base.min_window_s, max(1.0, window)),
            min_samples=min(base.min_samples, 5),
        )
        limit = float(result.limits.memory_bytes) if memory else None
        estimate = estimate_leak(points, metric, limit, th)
        out.append(StepTrend(step, points[0][0], points[-1][0], estimate))
    return out


def _steepest(found: list[StepTrend]) -> StepTrend | None:
    leaking = [t for t in found if t.estimate.leaking]
    return max(leaking, key=lambda t: t.estimate.slope_per_s, default=None)


def memory_leak(result: DrillResult) -> StepTrend | None:
    """The steepest step whose memory grows like a leak, or None."""
    return _steepest(trends(result, LeakMetric.MEMORY))


def goroutine_leak(result: DrillResult) -> StepTrend | None:
    """The steepest step whose goroutine count grows like a leak, or None."""
    return _steepest(trends(result, LeakMetric.GOROUTINES))


def peak_memory(result: DrillResult, step: int | None = None) -> int | None:
    """Highest memory reading (bytes) before any OOM kill, in one step or overall."""
    values = [
        s.memory_bytes
        for s in result.samples
        if s.memory_bytes and not s.oom_kills and (step is None or s.step == step)
    ]
    return max(values) if values else None


def judged_steps(result: DrillResult) -> tuple[StepResult, ...]:
    """The steps capacity is judged on: a step the service died or thrashed in is left out
    (KP601/KP610 report it; its latency and errors describe the death, not capacity)."""
    died = result.exit is not None or result.oom is not None
    if result.steps and (died or result.thrash_detected_at_s is not None):
        return result.steps[:-1]
    return result.steps


def drill_capacity(result: DrillResult) -> Capacity:
    """Capacity against the drill's SLO and target rate (the highest step by default)."""
    lim = result.limits
    target = lim.target_rate
    if target is None and result.steps:
        target = max(s.rate_asked_rps for s in result.steps)
    steps = judged_steps(result)
    peaks = [float(peak_memory(result, s.index) or "nan") for s in steps]
    return capacity(
        steps,
        Slo(lim.slo_percentile, lim.slo_ms),
        peak_memory_bytes=peaks,
        target_rps=target,
    )


def missed_below_target(result: DrillResult) -> list[StepVerdict]:
    """Steps at or below the target rate that did not hold the SLO."""
    cap = drill_capacity(result)
    target = cap.target_rps
    return [v for v in cap.steps if not v.held and target is not None and v.rate_rps <= target]


def thrash(
    samples: Sequence[Sample],
    limit_bytes: int,
    min_pinned_s: float,
    *,
    latency_ms: Sequence[tuple[float, float]] = (),
    throughput_rps: Sequence[tuple[float, float]] = (),
) -> ThrashVerdict:
    """The thrash verdict over ``samples`` as of the last one: cgroup usage and failcnt,
    and — when given, per second — latency and throughput, one of which must collapse."""
    memory = [(s.t_s, float(s.cgroup_usage_bytes)) for s in samples if s.cgroup_usage_bytes]
    failcnt = [(s.t_s, float(s.failcnt)) for s in samples if s.failcnt is not None]
    kills = [s.t_s for s in samples if s.oom_kills]
    now = samples[-1].t_s if samples else 0.0
    return detect_thrash(
        memory,
        float(limit_bytes),
        failcnt,
        now,
        latency_ms=latency_ms,
        throughput_rps=throughput_rps,
        oom_kill_times_s=kills[:1],
        thresholds=ThrashThresholds(min_pinned_s=min_pinned_s),
    )
