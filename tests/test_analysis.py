"""The drill's analyses on synthetic series sampled with a fake clock (no sleeping)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.analysis.capacity import Slo, latency_at
from killproof.analysis.leak import (
    LeakMetric,
    Point,
    capacity,
    detect_thrash,
    estimate_leak,
    parse_slo,
)
from killproof.analysis.trend import theil_sen
from killproof.clock import FakeClock
from killproof.errors import InputError
from killproof.facts.load import LoadModel, StepResult

MIB = 1024 * 1024


def sample(
    clock: FakeClock, value: Callable[[float], float], seconds: float, hz: float = 5.0
) -> list[Point]:
    """What a sampler at ``hz`` would record over ``seconds`` of the fake clock."""
    points: list[Point] = []
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        now = clock.monotonic()
        points.append((now, value(now)))
        clock.advance(1.0 / hz)
    return points


def noisy(base: Callable[[float], float], amplitude: float, seed: int) -> Callable[[float], float]:
    rng = random.Random(seed)
    return lambda t: base(t) + rng.uniform(-amplitude, amplitude)


# --- leaks -------------------------------------------------------------------------


def test_linear_memory_leak_has_the_right_slope_and_time_to_limit() -> None:
    clock = FakeClock(start=1000.0)
    t0 = clock.monotonic()
    leak = noisy(lambda t: 40 * MIB + 0.5 * MIB * (t - t0), 1 * MIB, seed=1)
    points = sample(clock, leak, 60)
    est = estimate_leak(points, LeakMetric.MEMORY, limit=128 * MIB)
    assert est.leaking, est.reason
    assert est.slope_per_s == pytest.approx(0.5 * MIB, rel=0.05)
    assert est.slope_low_per_s < 0.5 * MIB < est.slope_high_per_s
    # At the window's end the line is at ~70 MiB: (128 - 70) / 0.5 = 116 s to go.
    assert est.seconds_to_limit == pytest.approx(116, rel=0.1)
    assert est.confidence > 0.99
    assert "memory grows 0.50 MiB/s" in est.reason


def test_leak_under_a_gc_sawtooth_is_found_by_its_rising_floor() -> None:
    clock = FakeClock()
    # 20 MiB of garbage collected every 6 s, on top of live data growing 0.3 MiB/s.
    points = sample(clock, lambda t: 30 * MIB + 0.3 * MIB * t + 20 * MIB * ((t % 6) / 6), 60)
    est = estimate_leak(points, LeakMetric.MEMORY, limit=256 * MIB)
    assert est.leaking, est.reason
    assert est.floor_slope_per_s == pytest.approx(0.3 * MIB, rel=0.1)


@pytest.mark.parametrize("period_s", [5.0, 7.0, 20.0])
def test_gc_sawtooth_with_a_flat_floor_is_not_a_leak(period_s: float) -> None:
    clock = FakeClock()
    saw = noisy(lambda t: 30 * MIB + 25 * MIB * ((t % period_s) / period_s), 0.5 * MIB, seed=2)
    est = estimate_leak(sample(clock, saw, 30), LeakMetric.MEMORY, limit=128 * MIB)
    assert not est.leaking
    assert est.seconds_to_limit is None


def test_flat_noise_is_not_a_leak() -> None:
    clock = FakeClock()
    est = estimate_leak(sample(clock, noisy(lambda t: 50 * MIB, 3 * MIB, seed=3), 60))
    assert not est.leaking
    assert est.seconds_to_limit is None


def test_warm_up_that_levels_off_is_not_a_leak() -> None:
    clock = FakeClock()
    warm = noisy(lambda t: 60 * MIB - 30 * MIB * math.exp(-t / 12), 0.3 * MIB, seed=4)
    est = estimate_leak(sample(clock, warm, 60), LeakMetric.MEMORY, limit=128 * MIB)
    assert not est.leaking
    assert "levels off" in est.reason or "floor" in est.reason


def test_goroutine_leak_and_steady_goroutines() -> None:
    clock = FakeClock()
    leak = sample(clock, lambda t: 20 + math.floor(2 * t), 40)
    est = estimate_leak(leak, LeakMetric.GOROUTINES)
    assert est.leaking, est.reason
    assert est.slope_per_s == pytest.approx(2.0, rel=0.05)
    assert est.seconds_to_limit is None  # no limit for goroutines

    rng = random.Random(5)
    steady = sample(clock, lambda t: 50 + rng.randint(-8, 8), 40)
    assert not estimate_leak(steady, LeakMetric.GOROUTINES).leaking


def test_too_few_samples_is_said_not_guessed() -> None:
    est = estimate_leak([(0.0, 1.0), (1.0, 2 * MIB), (2.0, 9 * MIB)])
    assert not est.leaking
    assert est.reason.startswith("not enough data")


def test_leak_already_over_the_limit_reports_zero_seconds() -> None:
    clock = FakeClock()
    points = sample(clock, lambda t: 100 * MIB + 1 * MIB * t, 30)
    est = estimate_leak(points, limit=64 * MIB)
    assert est.leaking
    assert est.seconds_to_limit == 0.0


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), finite | st.just(math.nan)), max_size=60))
def test_estimate_leak_never_crashes(points: list[Point]) -> None:
    est = estimate_leak(points, limit=1e9)
    assert est.samples <= len(points)
    assert est.to_json()["metric"] == "memory"


@settings(max_examples=100, deadline=None)
@given(st.floats(1, 1e9), st.integers(10, 200))
def test_constant_series_is_never_a_leak(value: float, count: int) -> None:
    assert not estimate_leak([(i * 0.2, value) for i in range(count)]).leaking


@settings(max_examples=100, deadline=None)
@given(st.floats(-1e6, 1e6), st.floats(-1e9, 1e9), st.integers(3, 120))
def test_theil_sen_recovers_an_exact_line(slope: float, intercept: float, count: int) -> None:
    fit = theil_sen([(t * 0.5, intercept + slope * t * 0.5) for t in range(count)])
    assert fit is not None
    assert fit.slope == pytest.approx(slope, rel=1e-6, abs=1e-6)


# --- SLO and capacity ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "percentile", "ms"),
    [
        ("p99<300ms", 99, 300),
        ("p99.9<1s", 99.9, 1000),
        ("p50<=20ms", 50, 20),
        ("p90<500us", 90, 0.5),
    ],
)
def test_parse_slo(text: str, percentile: float, ms: float) -> None:
    assert parse_slo(text) == Slo(percentile, ms)


@pytest.mark.parametrize(
    "text", ["", "p99", "99<300ms", "p0<1s", "p101<1s", "p99>300ms", "p99<0ms"]
)
def test_parse_slo_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_slo(text)


@settings(max_examples=200)
@given(st.text(max_size=30))
def test_parse_slo_only_raises_input_error(text: str) -> None:
    try:
        slo = parse_slo(text)
    except InputError:
        return
    assert 0 < slo.percentile <= 100 and slo.threshold_ms > 0


def step(
    index: int,
    rate: float,
    p99_ms: float,
    *,
    achieved: float | None = None,
    errors: int = 0,
    histogram: str = "",
) -> StepResult:
    sent = int(rate * 10)
    return StepResult(
        index=index,
        model=LoadModel.OPEN,
        rate_asked_rps=rate,
        rate_achieved_rps=rate if achieved is None else achieved,
        duration_s=10.0,
        sent=sent,
        completed=sent - errors,
        unsent=0,
        errors=(("http_500", errors),) if errors else (),
        p50_ms=p99_ms / 4,
        p90_ms=p99_ms / 2,
        p99_ms=p99_ms,
        max_ms=p99_ms * 2,
        service_p99_ms=p99_ms,
        histogram=histogram,
    )


def test_capacity_picks_the_last_step_under_the_slo() -> None:
    steps = [step(0, 100, 20), step(1, 200, 40), step(2, 400, 350), step(3, 800, 900)]
    mib = [50 * MIB, 60 * MIB, 80 * MIB, 120 * MIB]
    cap = capacity(steps, parse_slo("p99<300ms"), peak_memory_bytes=mib, target_rps=300)
    assert cap.held_rate_rps == 200
    assert cap.held_step == 1
    assert cap.first_failed_step == 2
    assert "p99 350.0ms" in cap.steps[2].reason
    assert cap.meets_target is False
    # Two held steps: (60 - 50) MiB over (200 - 100) req/s.
    assert cap.memory_per_rps_bytes == pytest.approx(0.1 * MIB)


def test_capacity_errors_and_shortfall_fail_a_step() -> None:
    steps = [step(0, 100, 10), step(1, 200, 10, errors=50), step(2, 400, 10, achieved=300)]
    cap = capacity(steps, parse_slo("p99<300ms"), max_error_ratio=0.01)
    assert cap.held_rate_rps == 100
    assert not cap.steps[1].held and "errors 2.50%" in cap.steps[1].reason
    assert not cap.steps[2].held and "answered 300/s of 400/s" in cap.steps[2].reason


def test_a_lucky_step_above_a_failure_does_not_raise_capacity() -> None:
    steps = [step(0, 100, 10), step(1, 200, 400), step(2, 400, 10)]
    cap = capacity(steps, parse_slo("p99<300ms"))
    assert cap.held_rate_rps == 100
    assert cap.first_failed_step == 1


def test_capacity_when_the_first_step_fails() -> None:
    cap = capacity([step(0, 100, 500)], parse_slo("p99<300ms"), target_rps=50)
    assert cap.held_rate_rps is None and cap.held_step is None
    assert cap.meets_target is False


def test_latency_at_reads_any_percentile_from_the_histogram() -> None:
    histogram = HdrHistogram(1, 60_000_000, 3)
    for _ in range(998):
        histogram.record_value(10_000)  # 10 ms
    histogram.record_value(2_000_000)  # two 2 s outliers: p99.9 lands on them
    histogram.record_value(2_000_000)
    encoded = histogram.encode().decode("ascii")
    s = step(0, 100, 10, histogram=encoded)
    assert latency_at(s, 99.0) == pytest.approx(10, rel=0.01)
    assert latency_at(s, 99.9) == pytest.approx(2000, rel=0.01)
    cap = capacity([s], parse_slo("p99.9<1s"))
    assert cap.held_rate_rps is None


# --- thrash --------------------------------------------------------------------------


LIMIT = 64 * MIB


def thrash_run(
    clock: FakeClock, pinned_s: float, failcnt_rate: float, pinned_latency_ms: float
) -> tuple[list[Point], list[Point], list[Point], list[Point]]:
    """30 s healthy at 40 % of the limit, then ``pinned_s`` pinned at 99 %."""
    memory: list[Point] = []
    failcnt: list[Point] = []
    latency: list[Point] = []
    throughput: list[Point] = []
    end = clock.monotonic() + 30 + pinned_s
    pinned_from = clock.monotonic() + 30
    count = 0.0
    while clock.monotonic() < end:
        now = clock.monotonic()
        pinned = now >= pinned_from
        if pinned:
            count += failcnt_rate / 5
        memory.append((now, 0.99 * LIMIT if pinned else 0.4 * LIMIT))
        failcnt.append((now, count))
        latency.append((now, pinned_latency_ms if pinned else 5.0))
        throughput.append((now, 200.0 if not pinned or pinned_latency_ms < 50 else 20.0))
        clock.advance(0.2)
    return memory, failcnt, latency, throughput


def test_thrash_is_called_after_twenty_pinned_seconds() -> None:
    clock = FakeClock(start=500.0)
    memory, failcnt, latency, throughput = thrash_run(clock, 40, 50, 400)
    verdict = detect_thrash(
        memory, LIMIT, failcnt, clock.monotonic(), latency_ms=latency, throughput_rps=throughput
    )
    assert verdict.thrashing, verdict.reason
    assert verdict.pinned_since_s == pytest.approx(530.0, abs=0.25)
    assert verdict.failcnt_rate_per_s == pytest.approx(50, rel=0.05)
    assert verdict.latency_ratio == pytest.approx(80)
    assert verdict.throughput_ratio == pytest.approx(0.1)


def test_thrash_online_fires_once_pinned_long_enough() -> None:
    clock = FakeClock()
    memory, failcnt, latency, _ = thrash_run(clock, 40, 50, 400)
    fired = next(
        t
        for t, _ in memory
        if detect_thrash(
            [p for p in memory if p[0] <= t],
            LIMIT,
            [p for p in failcnt if p[0] <= t],
            t,
            latency_ms=[p for p in latency if p[0] <= t],
        ).thrashing
    )
    assert fired == pytest.approx(50.0, abs=0.3)


def test_not_thrash_when_oom_killed_short_flat_or_healthy() -> None:
    clock = FakeClock()
    memory, failcnt, latency, _ = thrash_run(clock, 40, 50, 400)
    now = clock.monotonic()
    killed = detect_thrash(memory, LIMIT, failcnt, now, oom_kill_times_s=[now - 1])
    assert not killed.thrashing and killed.oom_kills == 1

    memory, failcnt, latency, _ = thrash_run(FakeClock(), 10, 50, 400)
    assert "at the limit for 10s" in detect_thrash(memory, LIMIT, failcnt, 40.0).reason

    memory, failcnt, latency, _ = thrash_run(FakeClock(), 40, 0, 400)
    flat = detect_thrash(memory, LIMIT, failcnt, 70.0, latency_ms=latency)
    assert not flat.thrashing and "not failing charges" in flat.reason

    memory, failcnt, latency, _ = thrash_run(FakeClock(), 40, 50, 6)
    healthy = detect_thrash(memory, LIMIT, failcnt, 70.0, latency_ms=latency)
    assert not healthy.thrashing and "still serving" in healthy.reason


def test_short_dips_do_not_end_a_pinned_stretch() -> None:
    memory = [(t * 0.2, 0.99 * LIMIT) for t in range(200)]
    memory[100] = (20.0, 0.5 * LIMIT)  # one 200 ms dip below the line
    failcnt = [(t * 0.2, float(t)) for t in range(200)]
    verdict = detect_thrash(memory, LIMIT, failcnt, 39.8)
    assert verdict.pinned_since_s == 0.0
    assert verdict.thrashing


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1e3), st.floats(0, 1e9)), max_size=40),
    st.lists(st.tuples(st.floats(0, 1e3), st.floats(0, 1e6)), max_size=40),
)
def test_detect_thrash_never_crashes(memory: list[Point], failcnt: list[Point]) -> None:
    verdict = detect_thrash(memory, 5e8, failcnt, 1e3)
    assert verdict.pinned_for_s >= 0
