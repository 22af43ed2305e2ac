"""plan's recommendations against hand-computed expectations, per strategy.

Each expectation is worked out in the comment next to it from the formulas in
/work/shared/reference/load-sizing-leaks-shutdown.md (krr §2.1, VPA §2.2, GC guide §3.1,
GOMAXPROCS §3.2, automemlimit §3.3, termination §5.1).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killproof.errors import InputError
from killproof.plan import goruntime, sizing
from killproof.plan.deployed import Deployed, go_version_near
from killproof.plan.evidence import Drain, DrillEvidence, LeakVerdict, OomKill, from_report
from killproof.plan.model import Setting, Strategy
from killproof.plan.recommend import recommend

MI = 1 << 20
FIXTURES = Path(__file__).parent / "fixtures" / "plan"

DRAIN = Drain(
    exit_after_s=8.0,
    readiness_failed_after_s=0.05,
    listener_closed_after_s=0.1,
    grace_s=30.0,
    failed_after_signal=0,
    sigkill_sent=False,
)
KILL = OomKill(t_s=11.5, limit_bytes=64 * MI, memory_bytes=63 * MI, top_site="")
BASE = DrillEvidence(
    sources=("drill.json",),
    service="orders",
    limit_bytes=128 * MI,
    memory_source="cgroup",
    peak_bytes=100 * MI,
    report_peaks_bytes=(100 * MI,),
    load_memory_bytes=(90 * MI, 100 * MI),
    heap_at_peak_bytes=60 * MI,
    peak_goroutines=70,
    cpu_cores=tuple(i / 100 for i in range(1, 21)),  # 0.01 … 0.20
    leaks=(),
    oom=None,
    held_rate_rps=200.0,
    slo_percentile=99.0,
    slo_ms=300.0,
    drain=DRAIN,
    findings=(),
    pprof=None,
)
NOW = Deployed(
    path="deploy.yaml",
    kind="Deployment",
    name="orders",
    namespace="default",
    container="orders",
    memory_request_bytes=64 * MI,
    memory_limit_bytes=128 * MI,
    cpu_request_cores=0.1,
    go_version=(1, 25),
)


def rec(
    ev: DrillEvidence,
    setting: Setting,
    strategy: Strategy = Strategy.KILLPROOF,
    now: Deployed = NOW,
    target_rps: float | None = None,
    cpu_limit: bool = False,
) -> str | None:
    """The recommended value of ``setting`` (None when refused)."""
    plan = recommend(ev, now, strategy, target_rps, cpu_limit)
    found = plan.get(setting)
    assert found is not None, f"no {setting.value} recommendation"
    return found.recommended


def test_killproof_memory_is_peak_plus_margin_under_gomemlimit() -> None:
    # ceil_Mi(100 Mi × 1.15 / 0.9) = ceil(127.78) = 128Mi; request = limit.
    assert rec(BASE, Setting.MEMORY_LIMIT) == "128Mi"
    assert rec(BASE, Setting.MEMORY_REQUEST) == "128Mi"
    # GOMEMLIMIT = floor_Mi(min(0.9 × 128 Mi = 115.2 Mi, 128 − (100 − 60) = 88 Mi)) = 88MiB.
    assert rec(BASE, Setting.GOMEMLIMIT) == "88MiB"


def test_killproof_cpu_request_and_limit_only_when_asked() -> None:
    # p95 (nearest rank 19 of 20) = 0.19 core; × 1.15 = 0.2185 → 219m.
    assert rec(BASE, Setting.CPU_REQUEST) == "219m"
    assert recommend(BASE, NOW).get(Setting.CPU_LIMIT) is None
    # max window 0.20 × 1.5 = 0.3 → 300m.
    assert rec(BASE, Setting.CPU_LIMIT, cpu_limit=True) == "300m"


def test_krr_memory_and_cpu() -> None:
    # max(ceil_Mi(100 Mi × 1.15) = 115Mi, 100Mi); CPU p95 0.19 → 190m, no limit.
    assert rec(BASE, Setting.MEMORY_LIMIT, Strategy.KRR) == "115Mi"
    assert rec(BASE, Setting.MEMORY_REQUEST, Strategy.KRR) == "115Mi"
    assert rec(BASE, Setting.CPU_REQUEST, Strategy.KRR) == "190m"
    # GOMEMLIMIT = floor_Mi(min(103.5 Mi, 115 − 40 = 75 Mi)) = 75MiB.
    assert rec(BASE, Setting.GOMEMLIMIT, Strategy.KRR) == "75MiB"


def test_krr_memory_minimum() -> None:
    small = replace(BASE, peak_bytes=20 * MI, heap_at_peak_bytes=10 * MI)
    # ceil_Mi(23 Mi) = 23Mi is below krr's --mem-min 100 (MiB): 100Mi.
    assert rec(small, Setting.MEMORY_LIMIT, Strategy.KRR) == "100Mi"


def test_vpa_pod_minimum_and_limit_ratio() -> None:
    # p90 of one report peak = 100 Mi; × 1.15 = 115 Mi < the 250 MiB pod minimum → 250Mi;
    # the limit keeps the current 128Mi/64Mi = 2 ratio → 500Mi. CPU p90 0.18 × 1.15 → 207m.
    assert rec(BASE, Setting.MEMORY_REQUEST, Strategy.VPA) == "250Mi"
    assert rec(BASE, Setting.MEMORY_LIMIT, Strategy.VPA) == "500Mi"
    assert rec(BASE, Setting.CPU_REQUEST, Strategy.VPA) == "207m"


def test_vpa_percentile_over_report_peaks() -> None:
    ev = replace(BASE, report_peaks_bytes=(300 * MI, 400 * MI, 200 * MI), peak_bytes=400 * MI)
    # nearest-rank p90 of 3 peaks is the 3rd (400 Mi); × 1.15 = 460Mi. No current ratio.
    now = replace(NOW, memory_request_bytes=None, memory_limit_bytes=None)
    assert rec(ev, Setting.MEMORY_REQUEST, Strategy.VPA, now=now) == "460Mi"
    assert rec(ev, Setting.MEMORY_LIMIT, Strategy.VPA, now=now) == "460Mi"


OOM = replace(
    BASE,
    limit_bytes=64 * MI,
    peak_bytes=63 * MI,
    report_peaks_bytes=(63 * MI,),
    heap_at_peak_bytes=50 * MI,
    oom=KILL,
)


def test_killproof_oom_bump() -> None:
    # used = max(peak 63, usage at kill 63, limit at kill 64) = 64 Mi;
    # need = max(64 + 100, 64 × 1.2) = 164 Mi; limit = ceil_Mi(164 × 1.15 / 0.9) = 210Mi.
    assert rec(OOM, Setting.MEMORY_LIMIT) == "210Mi"
    big = replace(OOM, peak_bytes=990 * MI, oom=replace(KILL, limit_bytes=1000 * MI))
    # used = 1000 Mi; need = max(1100, 1200) = 1200 Mi; × 1.15 / 0.9 = 1533.3 → 1534Mi.
    assert rec(big, Setting.MEMORY_LIMIT) == "1534Mi"


def test_vpa_oom_bump() -> None:
    now = replace(NOW, memory_request_bytes=512 * MI, memory_limit_bytes=None)
    ev = replace(OOM, peak_bytes=500 * MI, report_peaks_bytes=(500 * MI,),
                 oom=replace(KILL, memory_bytes=500 * MI, limit_bytes=512 * MI))  # fmt: skip
    # used = max(request 512, peak 500) = 512 Mi; bumped = max(612, 614.4) = 614.4 Mi;
    # request = ceil_Mi(614.4 × 1.15 = 706.56) = 707Mi (over the 250 MiB minimum).
    assert rec(ev, Setting.MEMORY_REQUEST, Strategy.VPA, now=now) == "707Mi"


def test_krr_ignores_oom_by_default() -> None:
    # krr's use_oomkill_data is off: peak 63 Mi × 1.15 = 72.45 → 73Mi → its 100Mi minimum.
    plan = recommend(OOM, NOW, Strategy.KRR)
    limit = plan.get(Setting.MEMORY_LIMIT)
    assert limit is not None and limit.recommended == "100Mi"
    assert "ignores OOM kills" in limit.reasoning


def test_leaking_service_is_refused_and_pointed_at_the_leak() -> None:
    leak = LeakVerdict("memory", 5 * MI, 12.0, "memory grows 5.00 MiB/s")
    ev = replace(OOM, leaks=(leak,), findings=("KP602", "KP601"),
                 oom=replace(KILL, top_site="main.storeResponse cache.go:21"),
                 pprof="go tool pprof -top /tmp/heap.pb.gz")  # fmt: skip
    plan = recommend(ev, NOW, Strategy.KILLPROOF)
    assert plan.refusal is not None
    for setting in (Setting.MEMORY_REQUEST, Setting.MEMORY_LIMIT, Setting.GOMEMLIMIT):
        r = plan.get(setting)
        assert r is not None and r.recommended is None, setting
        assert r.formula.startswith("refused")
    assert "5.0 MiB/s" in plan.refusal.reason
    assert "OOM-killed at 64.0 MiB" in plan.refusal.reason
    assert "KP602" in plan.refusal.pointer and "cache.go:21" in plan.refusal.pointer
    assert "go tool pprof -top /tmp/heap.pb.gz" in plan.refusal.pointer
    # What does not depend on memory is still sized.
    assert rec(ev, Setting.CPU_REQUEST) == "219m"
    # Every strategy refuses.
    assert recommend(ev, NOW, Strategy.KRR).refusal is not None
    assert rec(ev, Setting.MEMORY_LIMIT, Strategy.VPA) is None


def test_gomemlimit_never_squeezes_the_heap() -> None:
    ev = replace(BASE, peak_bytes=100 * MI, heap_at_peak_bytes=50 * MI)
    # limit − non-heap = 100 − 50 = 50 Mi < 1.1 × heap (55 Mi): fall back to 90 % → 90MiB.
    r = goruntime.gomemlimit(ev, NOW, 100 * MI)
    assert r.recommended == "90MiB"
    assert "constantly" in r.reasoning
    # No heap reading: plain 90 %: floor_Mi(0.9 × 35 Mi = 31.5) = 31MiB.
    r = goruntime.gomemlimit(replace(ev, heap_at_peak_bytes=None), NOW, 35 * MI)
    assert r.recommended == "31MiB"


@pytest.mark.parametrize(
    ("version", "cpu_limit", "env", "expected"),
    [
        ((1, 25), 2.5, {}, "unset"),  # cgroup-aware
        ((1, 26), None, {"GOMAXPROCS": "4"}, "unset"),  # setting it turns the default off
        ((1, 22), 2.5, {}, "2"),  # automaxprocs floor
        ((1, 22), 0.5, {}, "1"),  # at least 1
        ((1, 22), None, {}, "unset"),  # no CPU limit, nothing to throttle
    ],
)
def test_gomaxprocs_by_go_version(
    version: tuple[int, int], cpu_limit: float | None, env: dict[str, str], expected: str
) -> None:
    now = replace(NOW, go_version=version, env=env)
    assert goruntime.gomaxprocs(now, cpu_limit).recommended == expected


def test_prestop_and_grace_from_the_drain() -> None:
    # The app closes its listener 0.05 s after failing readiness: preStop 5 s.
    # grace = ceil(max(5 + 1.5 × 8, 5 + 8 + 5)) = 18 s < the default 30 s: keep 30.
    now = replace(NOW, grace_s=None, prestop_s=0.0)
    assert rec(BASE, Setting.PRESTOP, now=now) == "5"
    assert rec(BASE, Setting.GRACE, now=now) == "30"
    # A 20 s drain: ceil(max(5 + 30, 5 + 20 + 5)) = 35 s > 30: raise it.
    slow = replace(BASE, drain=replace(DRAIN, exit_after_s=20.0))
    assert rec(slow, Setting.GRACE, now=now) == "35"
    # An app that serves 6 s after readiness fails needs no preStop.
    waits = replace(BASE, drain=replace(DRAIN, listener_closed_after_s=6.05))
    assert rec(waits, Setting.PRESTOP, now=now) == "0"


def test_grace_refused_when_the_drill_saw_no_exit() -> None:
    stuck = replace(BASE, drain=replace(DRAIN, exit_after_s=None, sigkill_sent=True))
    r = recommend(stuck, NOW).get(Setting.GRACE)
    assert r is not None and r.recommended is None
    assert "did not exit" in r.reasoning


def test_replicas_and_hpa_from_held_rate() -> None:
    # ceil(1000 / (0.7 × 200)) = ceil(7.14) = 8; HPA 8..16.
    assert rec(BASE, Setting.REPLICAS, target_rps=1000) == "8"
    hpa = rec(BASE, Setting.HPA, target_rps=1000)
    assert hpa is not None and hpa.startswith("minReplicas 8, maxReplicas 16")
    # ceil(100 / 140) = 1, but never below 2.
    assert rec(BASE, Setting.REPLICAS, target_rps=100) == "2"
    # No step held the SLO: refused.
    assert rec(replace(BASE, held_rate_rps=None), Setting.REPLICAS, target_rps=100) is None


def test_qos_classes() -> None:
    # killproof: memory request = limit, CPU request without a limit → Burstable.
    assert rec(BASE, Setting.QOS) == "Burstable"
    recs = {r.setting: r for r in sizing.memory(BASE, NOW, Strategy.KILLPROOF)}
    now = replace(NOW, cpu_request_cores=0.5, cpu_limit_cores=0.5)
    assert sizing.qos(recs, now).recommended == "Guaranteed"
    empty = replace(NOW, memory_request_bytes=None, memory_limit_bytes=None,
                    cpu_request_cores=None)  # fmt: skip
    assert sizing.qos({}, empty).recommended == "BestEffort"


def test_no_cpu_samples_says_so() -> None:
    r = recommend(replace(BASE, cpu_cores=()), NOW).get(Setting.CPU_REQUEST)
    assert r is not None and r.recommended is None and "no CPU samples" in r.reasoning


def test_real_drill_report_sized_from_its_cgroup_peak() -> None:
    data = json.loads((FIXTURES / "drill-orders-fixed.json").read_text())
    peak = max(s["cgroup_usage_bytes"] for s in data["samples"] if s["cgroup_usage_bytes"])
    ev = from_report(data, "drill-orders-fixed.json")
    assert ev.memory_source == "cgroup" and ev.peak_bytes == peak
    assert ev.held_rate_rps == data["capacity"]["held_rate_rps"] == 200.0
    assert ev.drain is not None and ev.drain.exit_after_s == data["shutdown"]["exit_after_s"]
    expected_mi = math.ceil(peak * 1.15 / 0.9 / MI)
    assert rec(ev, Setting.MEMORY_LIMIT) == f"{expected_mi}Mi"
    rss_peak = max(s["rss_bytes"] or 0 for s in data["samples"])
    assert rss_peak != peak  # sized from the cgroup's number, not RSS


@given(
    peak_mi=st.integers(1, 100_000),
    strategy=st.sampled_from(list(Strategy)),
)
def test_memory_limit_never_below_peak_and_whole_mebibytes(
    peak_mi: int, strategy: Strategy
) -> None:
    ev = replace(BASE, peak_bytes=peak_mi * MI, report_peaks_bytes=(peak_mi * MI,),
                 heap_at_peak_bytes=peak_mi * MI // 2)  # fmt: skip
    plan = recommend(ev, NOW, strategy)
    limit = plan.get(Setting.MEMORY_LIMIT)
    gomem = plan.get(Setting.GOMEMLIMIT)
    assert limit is not None and limit.value is not None and gomem is not None
    assert limit.value >= peak_mi * MI * 1.15
    assert limit.value % MI == 0 and limit.recommended is not None
    assert limit.recommended.endswith(("Mi", "Gi"))
    assert gomem.value is not None and gomem.value <= 0.9 * limit.value


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
SAMPLE_KEYS = ("t_s", "rss_bytes", "cgroup_usage_bytes", "heap_inuse_bytes", "goroutines",
               "cpu_seconds", "step")  # fmt: skip
SAMPLE = st.fixed_dictionaries({}, optional=dict.fromkeys(SAMPLE_KEYS, JSON_SCALARS))
REPORT = st.fixed_dictionaries(
    {"command": st.just("drill")},
    optional={
        "samples": st.lists(SAMPLE | JSON_VALUES, max_size=6),
        "limits": JSON_VALUES,
        "capacity": JSON_VALUES,
        "leak": JSON_VALUES,
        "oom": JSON_VALUES,
        "shutdown": JSON_VALUES,
        "findings": JSON_VALUES,
        "metadata": JSON_VALUES,
        "pprof": JSON_VALUES,
    },
)


@given(data=REPORT, strategy=st.sampled_from(list(Strategy)))
def test_damaged_reports_are_input_errors_never_crashes(data: dict[str, object],
                                                        strategy: Strategy) -> None:  # fmt: skip
    """Whatever a (damaged or hand-edited) drill report holds, plan either plans or says
    which file is wrong (InputError, exit 2); it never crashes."""
    try:
        ev = from_report(data, "r.json")
    except InputError as exc:
        assert exc.path == "r.json"
        return
    plan = recommend(ev, NOW, strategy, 500.0, True)
    assert plan.get(Setting.MEMORY_LIMIT) is not None
    limit = plan.get(Setting.MEMORY_LIMIT)
    assert limit is not None
    if limit.value is not None:
        assert limit.value >= ev.peak_bytes >= 0


def test_go_version_from_the_go_line(tmp_path: Path) -> None:
    """The go line decides GODEBUG defaults (containermaxprocs), not the toolchain."""
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.24\n\ntoolchain go1.25.1\n")
    (tmp_path / "deploy").mkdir()
    assert go_version_near(tmp_path / "deploy") == (1, 24)
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.25.0\n")
    assert go_version_near(tmp_path / "deploy") == (1, 25)


def test_thrash_is_bumped_like_an_oom() -> None:
    # Pinned at the 128 Mi limit without a kill: used = max(peak 126, limit 128) = 128 Mi;
    # need = max(228, 153.6) = 228 Mi; ceil_Mi(228 × 1.15 / 0.9 = 291.3) = 292Mi.
    ev = replace(BASE, thrashed=True, peak_bytes=126 * MI, report_peaks_bytes=(126 * MI,))
    plan = recommend(ev, NOW)
    limit = plan.get(Setting.MEMORY_LIMIT)
    assert limit is not None and limit.recommended == "292Mi"
    assert "thrashed at its 128.0 MiB limit" in limit.reasoning


def test_peak_held_down_by_the_drills_gomemlimit_is_flagged() -> None:
    ev = replace(BASE, drill_gomemlimit_bytes=102 * MI)  # peak 100 Mi = 98 % of it
    limit = recommend(ev, NOW).get(Setting.MEMORY_LIMIT)
    assert limit is not None and "98 % of the GOMEMLIMIT the drill ran with" in limit.reasoning
    roomy = recommend(replace(BASE, drill_gomemlimit_bytes=200 * MI), NOW)
    assert "GOMEMLIMIT the drill ran with" not in roomy.get(Setting.MEMORY_LIMIT).reasoning  # type: ignore[union-attr]


def test_drill_gomemlimit_read_from_the_report() -> None:
    data = json.loads((FIXTURES / "drill-orders-fixed.json").read_text())
    assert "GOMEMLIMIT=115MiB" in data["metadata"]["env"]
    assert from_report(data, "x").drill_gomemlimit_bytes == 115 * MI


def test_rss_only_when_the_drill_had_no_cgroup() -> None:
    """A watchdog drill has no cgroup numbers: the peak is RSS, and the inputs say so."""
    data = json.loads((FIXTURES / "drill-orders-fixed.json").read_text())
    for s in data["samples"]:
        s["cgroup_usage_bytes"] = None
    ev = from_report(data, "x")
    assert ev.memory_source == "rss"
    assert ev.peak_bytes == max(s["rss_bytes"] or 0 for s in data["samples"])
    limit = recommend(ev, NOW).get(Setting.MEMORY_LIMIT)
    assert limit is not None and str(limit.inputs["memory_source"]).startswith("rss")
