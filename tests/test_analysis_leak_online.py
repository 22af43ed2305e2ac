"""The online leak judge on synthetic and recorded series: flags a steady leak early, and
never a bounded series, a GC sawtooth with a flat floor, or a warm-up that levels off."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.analysis.leak_online import (
    GOROUTINE_SETTINGS,
    MEMORY_SETTINGS,
    MIB,
    LeakSignal,
    OnlineLeakJudge,
)

RECORDED = Path(__file__).parent / "fixtures" / "leak_online"


def feed(judge: OnlineLeakJudge, points: list[tuple[float, float]]) -> list[LeakSignal]:
    """Every evaluation the judge made while the points arrived one by one."""
    return [s for t, v in points if (s := judge.observe(t, v)) is not None]


def series(f: object, seconds: float, every_s: float) -> list[tuple[float, float]]:
    """``f(t)`` sampled every ``every_s`` seconds for ``seconds``."""
    assert callable(f)
    n = int(seconds / every_s)
    return [(i * every_s, float(f(i * every_s))) for i in range(n + 1)]


def test_steady_leak_is_flagged_with_more_than_half_of_the_time_left() -> None:
    rng = random.Random(7)
    # 20 MiB → a 128 MiB limit at 3 MiB/s: killed at 36 s; noise ±1 MiB at 10 Hz.
    pts = series(lambda t: 20 * MIB + 3 * MIB * t + rng.uniform(-1, 1) * MIB, 40, 0.1)
    pts = [(t, v) for t, v in pts if v < 128 * MIB]
    kill_s = pts[-1][0]
    judge = OnlineLeakJudge(128 * MIB)
    feed(judge, pts)
    first = judge.first_flagged
    assert first is not None
    assert kill_s - first.t_s >= 0.5 * kill_s
    # The projection is made at the flag: the limit is really that far away (within 25 %).
    assert first.seconds_to_limit is not None
    assert math.isclose(first.seconds_to_limit, kill_s - first.t_s, rel_tol=0.25)
    assert math.isclose(first.slope_per_s, 3 * MIB, rel_tol=0.2)


def test_leak_under_a_gc_sawtooth_is_flagged_once_the_floor_rises() -> None:
    # A 1 s GC cycle adds 8 MiB then drops it; the floor climbs 1 MiB/s from 30 MiB.
    pts = series(lambda t: 30 * MIB + MIB * t + 8 * MIB * (t % 1.0), 60, 0.1)
    judge = OnlineLeakJudge(200 * MIB)
    feed(judge, pts)
    assert judge.first_flagged is not None and judge.first_flagged.t_s < 20


def test_gc_sawtooth_with_a_flat_floor_is_not_a_leak() -> None:
    pts = series(lambda t: 40 * MIB + 12 * MIB * (t % 1.3), 120, 0.1)
    judge = OnlineLeakJudge(64 * MIB)
    signals = feed(judge, pts)
    assert judge.first_flagged is None
    assert len(signals) > 200 and not any(s.leaking for s in signals)


def test_warm_up_that_levels_off_is_not_a_leak() -> None:
    # 10 → 40 MiB with a 1 s time constant, then flat with noise, for two minutes.
    rng = random.Random(3)
    pts = series(
        lambda t: 10 * MIB + 30 * MIB * (1 - math.exp(-t)) + rng.uniform(0, 0.5) * MIB, 120, 0.1
    )
    judge = OnlineLeakJudge(64 * MIB)
    signals = feed(judge, pts)
    assert judge.first_flagged is None
    assert any("levels off" in s.reason for s in signals)


def test_bounded_cache_filling_then_flat_is_not_a_leak_after_it_fills() -> None:
    # A cache that fills linearly for 3 s (shorter than the judge's shortest window) then stays.
    pts = series(lambda t: 10 * MIB + 5 * MIB * min(t, 3.0), 60, 0.1)
    judge = OnlineLeakJudge(64 * MIB)
    feed(judge, pts)
    assert judge.first_flagged is None


def test_reset_forgets_the_window_but_keeps_the_first_flag() -> None:
    judge = OnlineLeakJudge(None)
    feed(judge, series(lambda t: MIB * 2 * t, 20, 0.1))
    first = judge.first_flagged
    assert first is not None and first.seconds_to_limit is None  # no limit, no projection
    judge.reset()
    later = feed(judge, [(20 + t, 40 * MIB) for t, _ in series(lambda t: 0, 2, 0.1)])
    assert later and not later[-1].leaking and "not enough data" in later[-1].reason
    assert judge.first_flagged is first


def test_goroutine_leak_is_flagged_with_goroutine_thresholds() -> None:
    judge = OnlineLeakJudge(None, GOROUTINE_SETTINGS)
    feed(judge, series(lambda t: 20 + 15 * t, 30, 0.5))
    assert judge.first_flagged is not None and judge.first_flagged.t_s <= 8


def test_memory_stays_bounded_over_hours_of_samples() -> None:
    judge = OnlineLeakJudge(64 * MIB)
    for i in range(2 * 3600):  # two hours at 1 Hz, flat
        judge.observe(float(i), 30 * MIB)
    assert len(judge._bins) <= MEMORY_SETTINGS.max_bins
    assert judge.first_flagged is None


@pytest.mark.parametrize("name", ["orders-leak", "orders-leak-2", "orders-leak-100rps"])
def test_recorded_orders_leak_is_flagged_with_half_of_the_time_to_the_kill_left(name: str) -> None:
    """Real drills of examples/orders (cgroup usage at 10 Hz up to the OOM kill)."""
    rec = json.loads((RECORDED / f"{name}.json").read_text())
    judge = OnlineLeakJudge(rec["limit_bytes"])
    signals = feed(judge, [(t, v) for t, v in rec["points"]])
    first = judge.first_flagged
    assert first is not None and first.seconds_to_limit is not None
    assert rec["oom_t_s"] - first.t_s >= 0.5 * (rec["oom_t_s"] - rec["load_start_s"])
    # Its GC pauses (flat for a second) do not withdraw it.
    assert judge.withdrawn is None and signals[-1].leaking


@pytest.mark.parametrize("name", ["orders-fixed-plateau", "orders-fixed-plateau-2"])
def test_recorded_bounded_cache_is_not_flagged_once_it_has_filled(name: str) -> None:
    """examples/orders-fixed fills a bounded cache at the leak's rate for ~4.6 s: the judge
    cannot tell that from a leak while it fills (an early warning), and withdraws the
    warning within a few seconds of the level staying flat; it is never flagged again."""
    rec = json.loads((RECORDED / f"{name}.json").read_text())
    judge = OnlineLeakJudge(rec["limit_bytes"])
    signals = feed(judge, [(t, v) for t, v in rec["points"]])
    flat_from = next(t for t, v in rec["points"] if v >= 0.95 * rec["points"][-1][1])
    if judge.first_flagged is not None:
        assert judge.withdrawn is not None and judge.withdrawn.t_s < flat_from + 5
        assert not any(s.leaking for s in signals if s.t_s >= judge.withdrawn.t_s)
    assert not signals[-1].leaking and not signals[-1].called


@settings(max_examples=40, deadline=None)
@given(
    level=st.floats(0, 4096 * MIB),
    band=st.floats(0, 0.499 * MEMORY_SETTINGS.min_growth),
    shape=st.lists(st.floats(0, 1), min_size=1, max_size=150),
    gaps=st.lists(st.floats(0.01, 5.0), min_size=1, max_size=50),
)
def test_a_series_inside_a_narrow_band_is_never_flagged(
    level: float, band: float, shape: list[float], gaps: list[float]
) -> None:
    """Whatever its shape and sampling, a series that stays within half the smallest growth a
    leak needs is never called one (the floor can't rise by enough)."""
    judge = OnlineLeakJudge(level + 2 * band + MIB)
    t = 0.0
    for i, u in enumerate(shape * 2):
        t += gaps[i % len(gaps)]
        judge.observe(t, level + band * u)
    assert judge.first_flagged is None


@settings(max_examples=40, deadline=None)
@given(
    base_mib=st.floats(5, 500),
    seconds_to_kill=st.floats(12, 300),
    every_s=st.sampled_from([0.1, 0.2, 0.25]),
    noise=st.floats(0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_a_steady_leak_is_always_flagged_with_half_of_the_time_left(
    base_mib: float, seconds_to_kill: float, every_s: float, noise: float, seed: int
) -> None:
    """A straight-line leak that grows what a leak needs in half the judge's shortest window,
    with noise up to a second's growth, is flagged while half of the time to the kill remains."""
    base = base_mib * MIB
    needed = max(MEMORY_SETTINGS.min_growth, MEMORY_SETTINGS.min_growth_fraction * base)
    rate = 2 * needed / MEMORY_SETTINGS.min_span_s
    limit = base + rate * seconds_to_kill
    rng = random.Random(seed)
    judge = OnlineLeakJudge(limit)
    for t, v in series(lambda t: base + rate * t, seconds_to_kill, every_s):
        judge.observe(t, v + rng.uniform(-noise, noise) * rate)
        if judge.first_flagged is not None:
            break
    first = judge.first_flagged
    assert first is not None
    assert first.t_s <= 0.5 * seconds_to_kill
