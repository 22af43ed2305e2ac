"""The drill's logic with an injected clock and synthetic series: no sleeps, no services."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from killproof.clock import FakeClock
from killproof.drill import ledger
from killproof.drill.cgroup import MemoryState
from killproof.drill.pprof_adapter import decode
from killproof.drill.ready import wait_ready
from killproof.drill.run import last_words
from killproof.drill.sampler import Sampler, SamplerConfig
from killproof.drill.sandbox import _exit_of
from killproof.drill.scenario import parse_scenario
from killproof.drill.shutdown import (
    DrainWindow,
    Outcome,
    RequestRecord,
    ShutdownPlan,
    extract_goroutine_dump,
    run_shutdown,
    summarize,
)
from killproof.drill.verdict import build_report
from killproof.facts.drill import DrillLimits, DrillResult, Exit, HeapProfile, Sample, SandboxKind
from killproof.model import SCHEMA_VERSION
from killproof.rules.drill import judge

MIB = 1 << 20


# -- readiness --------------------------------------------------------------------------


def test_wait_ready_reports_time_and_attempts() -> None:
    clock = FakeClock(100.0)
    answers = iter([(False, "ConnectionRefusedError")] * 4 + [(True, "HTTP 200")])
    out = wait_ready(lambda: next(answers), lambda: None, timeout_s=5, clock=clock,
                     interval_s=0.25)  # fmt: skip
    assert (out.ready, out.attempts) == (True, 5)
    assert out.after_s == pytest.approx(1.0)


def test_wait_ready_stops_when_the_process_dies() -> None:
    clock = FakeClock(100.0)
    died = Exit(t_s=0.3, code=1)
    states = iter([None, None, died])
    out = wait_ready(lambda: (False, "refused"), lambda: next(states), timeout_s=5,
                     clock=clock, interval_s=0.1)  # fmt: skip
    assert not out.ready and out.exited == died
    assert "exit status 1" in out.describe()


def test_wait_ready_times_out() -> None:
    clock = FakeClock(100.0)
    out = wait_ready(lambda: (False, "HTTP 503"), lambda: None, timeout_s=2, clock=clock,
                     interval_s=0.5)  # fmt: skip
    assert not out.ready and out.after_s == pytest.approx(2.0)
    assert "HTTP 503" in out.describe()


# -- shutdown ---------------------------------------------------------------------------


class FakeService:
    """A service that reacts to signals on a schedule of fake seconds."""

    def __init__(self, clock: FakeClock, exit_after: float | None, quit_exits: bool = True) -> None:
        self.clock, self.exit_after, self.quit_exits = clock, exit_after, quit_exits
        self.signals: list[tuple[float, str]] = []
        self.stderr = "started\n"
        self.t0 = 0.0

    def send(self, sig: signal.Signals) -> None:
        self.signals.append((self.clock.monotonic(), sig.name))
        if sig is signal.SIGTERM:
            self.t0 = self.clock.monotonic()
        if sig is signal.SIGQUIT:
            self.stderr += (
                "SIGQUIT: quit\nPC=0x4 m=0\n\ngoroutine 1 [sleep]:\ntime.Sleep(0x3b9aca00)\n"
                "\t/go/src/runtime/time.go:300 +0x10\nmain.flushQueue(...)\n"
                "\t/src/main.go:22\nmain.main()\n\t/src/main.go:50 +0x2a\n"
            )
            if self.quit_exits:
                self.exit_after = self.clock.monotonic() - self.t0

    def poll(self) -> Exit | None:
        if self.exit_after is not None and self.clock.monotonic() - self.t0 >= self.exit_after:
            if any(s == "SIGQUIT" for _, s in self.signals):
                return Exit(self.clock.monotonic(), code=2)
            return Exit(self.clock.monotonic(), code=0)
        if any(s == "SIGKILL" for _, s in self.signals):
            return Exit(self.clock.monotonic(), signal="SIGKILL")
        return None

    def stderr_text(self) -> str:
        return self.stderr


def test_shutdown_within_grace_records_the_timeline() -> None:
    clock = FakeClock(100.0)
    svc = FakeService(clock, exit_after=0.5)
    t = run_shutdown(
        svc, ShutdownPlan(grace_s=30, poll_s=0.05),
        ready_check=lambda: clock.monotonic() - svc.t0 < 0.1,
        listener_open=lambda: clock.monotonic() - svc.t0 < 0.3,
        traffic=None, clock=clock,
    )  # fmt: skip
    assert t.within_grace and t.exit is not None and t.exit.ok
    assert t.exit_after_s == pytest.approx(0.5, abs=0.051)  # one poll interval
    assert t.readiness_failed_after_s == pytest.approx(0.1, abs=0.051)
    assert t.listener_closed_after_s == pytest.approx(0.3, abs=0.051)
    assert t.readiness_before_close is True
    assert not t.sigquit_sent and t.goroutine_dump == ""


def test_overrun_sends_sigquit_then_keeps_the_dump() -> None:
    clock = FakeClock(100.0)
    svc = FakeService(clock, exit_after=None)
    t = run_shutdown(
        svc, ShutdownPlan(grace_s=2, poll_s=0.05),
        ready_check=lambda: False, listener_open=lambda: False,
        traffic=None, clock=clock,
    )  # fmt: skip
    names = [s for _, s in svc.signals]
    assert names == ["SIGTERM", "SIGQUIT"]
    assert svc.signals[1][0] - svc.signals[0][0] == pytest.approx(2.0, abs=0.06)
    assert not t.within_grace and t.sigquit_sent and not t.sigkill_sent
    assert "main.flushQueue" in t.goroutine_dump
    assert "started" not in t.goroutine_dump


def test_sigkill_when_sigquit_does_not_end_it() -> None:
    clock = FakeClock(100.0)
    svc = FakeService(clock, exit_after=None, quit_exits=False)
    t = run_shutdown(
        svc, ShutdownPlan(grace_s=1, quit_wait_s=1, poll_s=0.05),
        ready_check=lambda: True, listener_open=lambda: True,
        traffic=None, clock=clock,
    )  # fmt: skip
    assert [s for _, s in svc.signals] == ["SIGTERM", "SIGQUIT", "SIGKILL"]
    assert t.sigkill_sent and t.exit is not None and t.exit.signal == "SIGKILL"
    assert not t.reacted


def _rec(sent: float, outcome: Outcome) -> RequestRecord:
    return RequestRecord(sent, sent + 0.01, outcome, outcome.value)


def test_refusals_after_a_drain_are_expected_but_not_after_an_instant_exit() -> None:
    records = [_rec(9.0, Outcome.OK), _rec(10.1, Outcome.OK), _rec(10.2, Outcome.RESET),
               _rec(10.6, Outcome.REFUSED), _rec(45.0, Outcome.REFUSED)]  # fmt: skip
    drained = summarize(records, DrainWindow(10.0, 30.0, closed_at=10.5, drained=True))
    assert (drained.ok, drained.failed, drained.refused, drained.total) == (1, 1, 1, 3)
    instant = summarize(records, DrainWindow(10.0, 30.0, closed_at=10.5, drained=False))
    assert (instant.failed, instant.refused) == (2, 0)
    late_close = summarize(records, DrainWindow(10.0, 30.0, closed_at=10.5 + 2, drained=False))
    assert late_close.failed == 2  # refused before the close: a drop either way


def test_goroutine_dump_is_cut_from_stderr() -> None:
    text = "log line\nSIGQUIT: quit\nPC=0x1\n\ngoroutine 1 [running]:\nmain.main()\n"
    assert extract_goroutine_dump(text).startswith("SIGQUIT: quit")
    assert extract_goroutine_dump("no dump here\n") == ""


# -- leak, thrash, capacity on synthetic series -----------------------------------------


def _result(samples: list[Sample], limit: int = 64 * MIB) -> DrillResult:
    return DrillResult(("svc",), SandboxKind.CGROUP_V1, DrillLimits(limit), True, 0.1,
                       samples=tuple(samples))  # fmt: skip


def test_linear_growth_at_constant_load_is_a_leak_with_time_to_limit() -> None:
    samples = [Sample(t_s=i / 10, cgroup_usage_bytes=10 * MIB + i * MIB // 10, step=0)
               for i in range(100)]  # fmt: skip
    trend = judge.memory_leak(_result(samples))
    assert trend is not None and trend.step == 0
    assert trend.estimate.slope_per_s == pytest.approx(MIB, rel=0.01)
    # 19.9 MiB at 9.9 s; 44.1 MiB to go at 1 MiB/s.
    assert trend.estimate.seconds_to_limit == pytest.approx(44.1, abs=0.5)


def test_gc_sawtooth_with_a_flat_floor_is_not_a_leak() -> None:
    samples = [Sample(t_s=i / 10, cgroup_usage_bytes=20 * MIB + (i % 20) * MIB // 2, step=0)
               for i in range(200)]  # fmt: skip
    assert judge.memory_leak(_result(samples)) is None


def test_goroutines_climbing_is_a_goroutine_leak() -> None:
    samples = [Sample(t_s=i / 2, goroutines=12 + 100 * i, step=1) for i in range(12)]
    trend = judge.goroutine_leak(_result(samples))
    assert trend is not None and trend.step == 1
    assert trend.estimate.slope_per_s == pytest.approx(200, rel=0.01)


def test_pinned_at_the_limit_with_failcnt_climbing_is_thrash() -> None:
    limit = 64 * MIB
    samples = [Sample(t_s=i / 10, cgroup_usage_bytes=limit - 100_000, failcnt=50 * i, step=0)
               for i in range(150)]  # fmt: skip
    assert judge.thrash(samples, limit, min_pinned_s=10).thrashing
    assert not judge.thrash(samples[:50], limit, min_pinned_s=10).thrashing
    killed = [*samples[:-1], Sample(t_s=15.0, cgroup_usage_bytes=0, failcnt=7450, oom_kills=1)]
    assert not judge.thrash(killed, limit, min_pinned_s=10).thrashing


# -- sampler: the pre-kill profile trigger ------------------------------------------------


def test_crossing_80_percent_asks_for_one_heap_profile(tmp_path: Path) -> None:
    clock = FakeClock(100.0)
    usage = iter([10, 40, 52, 60, 63, 40, 55])  # MiB; 80 % of 64 MiB is 51.2 MiB
    sampler = Sampler(
        SamplerConfig(limit_bytes=64 * MIB, profile_dir=tmp_path),
        pid=2**22 + 7,  # no such process: RSS stays None
        read_cgroup=lambda: MemoryState(next(usage) * MIB, 64 * MIB, 0, None, 0),
        t0=clock.monotonic(), clock=clock,
    )  # fmt: skip
    asked: list[tuple[int, str]] = []
    for tick in range(7):
        clock.pause(0.1)
        sampler.sample_once(tick)
        if sampler._pending_reason:
            asked.append((tick, sampler._pending_reason))
            sampler._pending_reason = ""
    assert asked == [(2, "memory-80pct"), (6, "memory-80pct")]
    first = sampler.samples()[0]
    assert first.t_s == pytest.approx(0.1) and first.rss_bytes is None
    assert first.cgroup_usage_bytes == 10 * MIB and first.cgroup_limit_bytes == 64 * MIB


# -- report contract, pprof errors, exits, ledger ------------------------------------------


def test_report_json_has_the_contract_keys() -> None:
    result = parse_scenario(
        "limit 64Mi\nstep 200/s 5s\nmemory 0s 8Mi 1s 20Mi 2s 33Mi 3s 46Mi 4s 58Mi 5s 60Mi\n"
        "profile 4s memory-80pct main.remember /src/main.go:21 41Mi\n"
        "oom 5.2s cgroup-events\nexit 5.2s SIGKILL\n"
    )
    report = build_report(result).to_json()
    assert report["schema_version"] == SCHEMA_VERSION
    for key in ("verdict", "oom", "leak", "capacity", "shutdown", "samples", "profiles"):
        assert key in report
    assert report["verdict"] == "fail"
    assert report["oom"]["top_sites"][0] == {
        "function": "main.remember", "file": "/src/main.go", "line": 21, "inuse_bytes": 41 * MIB,
    }  # fmt: skip
    assert report["leak"]["memory"]["step"] == 0
    assert [f["rule"] for f in report["findings"]] == ["KP601", "KP602"]
    json.dumps(report)


def test_a_crash_under_load_fails_without_a_rule_and_an_oom_does_not_double_count() -> None:
    crashed = build_report(parse_scenario("step 100/s 5s\nexit 3s 2\n"))
    assert crashed.sections["verdict"] == "fail" and crashed.findings == ()
    assert "exited during the load (exit status 2)" in crashed.summary
    oom = build_report(parse_scenario("step 100/s 5s\noom 3s cgroup-events\nexit 3s SIGKILL\n"))
    assert "exited during the load" not in oom.summary


def test_last_words_prefer_the_panic_line() -> None:
    stderr = "serving\npanic: assignment to entry in nil map\n\ngoroutine 7 [running]:\n" \
             "main.orders.func1()\n\t/src/main.go:22 +0x29\nexit status 2\n"  # fmt: skip
    assert last_words(stderr) == "panic: assignment to entry in nil map"
    assert last_words("listen tcp :80: bind: permission denied\n") == (
        "listen tcp :80: bind: permission denied"
    )
    assert last_words("") == ""


def test_a_truncated_profile_is_kept_with_its_error(tmp_path: Path) -> None:
    path = tmp_path / "heap.pb.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    out = decode(HeapProfile(str(path), 1.0, "memory-80pct"))
    assert out.top == () and out.error


def test_exit_statuses() -> None:
    assert _exit_of(-9, 1.0) == Exit(1.0, signal="SIGKILL")
    assert _exit_of(0, 1.0).ok
    assert _exit_of(137, 1.0) == Exit(1.0, code=137)
    assert _exit_of(137, 1.0, shell_style=True).signal == "SIGKILL"


def test_ledger_sweep_kills_what_a_dead_drill_left(tmp_path: Path) -> None:
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              start_new_session=True)  # fmt: skip
    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    try:
        entry = ledger.Entry(owner=dead_owner.pid, owner_start=0.0, pgid=orphan.pid,
                             pgid_start=ledger.start_time(orphan.pid))  # fmt: skip
        ledger.write(tmp_path, "x-0", entry)
        me = os.getpid()
        alive = ledger.Entry(owner=me, owner_start=ledger.start_time(me) or 0.0)
        ledger.write(tmp_path, "me-0", alive)
        done = ledger.sweep(tmp_path)
        assert done.cleaned == (f"drill of pid {dead_owner.pid} (x-0.json)",)
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert sorted(p.name for p in tmp_path.iterdir()) == ["me-0.json"]
    finally:
        if orphan.poll() is None:
            orphan.kill()


def test_leftover_cgroups_of_dead_owners_only(tmp_path: Path) -> None:
    from killproof.drill import cgroup

    mem = tmp_path / "memory"
    names = ["killproof-drill-4000001-0", f"killproof-drill-{os.getpid()}-0",
             "killproof-drill-1-3", "someone-else", "killproof-drill-x-1"]  # fmt: skip
    for name in names:
        (mem / name).mkdir(parents=True)
    root = cgroup.CgroupRoot(cgroup.CgroupVersion.V1, mem)
    removed = cgroup.remove_leftovers(root, alive=lambda pid: pid != 4000001)
    assert removed == [str(mem / "killproof-drill-4000001-0")]
    assert sorted(p.name for p in mem.iterdir()) == sorted(names[1:])
