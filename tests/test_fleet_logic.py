"""The pure parts of ``killproof fleet``: windows, PromQL batches, owners, folding answers,
the kill-risk score, sizing, the inventory from a dump, and CSV (no Prometheus needed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet_history import MIB, five_workloads, kubectl_dump
from killproof.errors import InputError
from killproof.fleet.inventory import build_inventory
from killproof.fleet.kube_api import as_kubectl_list
from killproof.fleet.promql import Query, Signal, batch_queries, selector
from killproof.fleet.risk import container_risk
from killproof.fleet.sizing import krr_memory_recommendation
from killproof.fleet.usage import ContainerUsage, OwnerIndex, WorkloadRef, fold_usage
from killproof.fleet.window import parse_at, parse_window, promql_duration
from killproof.model import Finding, Location, Report, Severity, Table
from killproof.report import OutputFormat, RenderOptions, render

WEEK_S = 7 * 86400
REF = WorkloadRef("shop", "Deployment", "api")


@given(st.integers(min_value=1, max_value=10**8))
def test_window_round_trips_through_promql(seconds: int) -> None:
    assert parse_window(promql_duration(seconds)) == seconds


def test_window_forms() -> None:
    assert parse_window("7d") == WEEK_S
    assert parse_window("1w2d") == 9 * 86400
    assert promql_duration(WEEK_S) == "7d"
    assert promql_duration(90) == "90s"
    for bad in ("", "7", "7x", "d7", "-1d", "0h", "7d x"):
        with pytest.raises(InputError):
            parse_window(bad)


def test_at_accepts_unix_and_rfc3339() -> None:
    assert parse_at("1767225600") == 1767225600
    assert parse_at("2026-01-01T00:00:00Z") == 1767225600
    with pytest.raises(InputError):
        parse_at("yesterday")


def test_one_query_per_signal_per_batch() -> None:
    queries = batch_queries(["shop", "payments"], "7d")
    assert [q.signal for q in queries] == list(Signal)
    assert all('namespace=~"shop|payments"' in q.promql for q in queries)
    peak = next(q for q in queries if q.signal is Signal.WS_PEAK)
    assert peak.promql == (
        "max by (namespace, pod, container) (max_over_time(container_memory_working_set_bytes"
        '{namespace=~"shop|payments",container!="",container!="POD"}[7d]))'
    )
    with pytest.raises(ValueError, match="not a namespace"):
        selector(['shop"} or vector(1) #'])


def test_owners_climb_to_the_controller() -> None:
    owners = OwnerIndex()
    owners.add_pod("shop", "api-5d8f-x", "ReplicaSet", "api-5d8f")
    owners.add_parent("shop", "ReplicaSet", "api-5d8f", ("Deployment", "api"))
    owners.add_pod("ops", "backup-29000-abc", "Job", "backup-29000")
    owners.add_parent("ops", "Job", "backup-29000", ("CronJob", "backup"))
    assert owners.workload("shop", "api-5d8f-x") == REF
    assert owners.workload("ops", "backup-29000-abc") == WorkloadRef("ops", "CronJob", "backup")
    assert owners.workload("shop", "debug") == WorkloadRef("shop", "Pod", "debug")


def _rows(
    signal: Signal, *rows: tuple[str, str, float]
) -> tuple[Query, list[tuple[dict[str, str], float]]]:
    labels = [({"namespace": "shop", "pod": pod, "container": c}, v) for pod, c, v in rows]
    return Query(signal, "", ("shop",)), labels


def test_fold_merges_the_pods_of_a_workload() -> None:
    owners = OwnerIndex()
    for pod in ("api-1", "api-2"):
        owners.add_pod("shop", pod, "StatefulSet", "api")
    go = Query(Signal.GOMEMLIMIT, "", ("shop",)), [({"namespace": "shop", "pod": "api-2"}, 2.0**63)]
    usages = fold_usage(
        [
            _rows(Signal.WS_PEAK, ("api-1", "app", 100.0), ("api-2", "app", 300.0)),
            _rows(Signal.RESTARTS, ("api-1", "app", 2.0), ("api-2", "app", 3.0)),
            _rows(Signal.OOM_REASON, ("api-2", "app", 1.0)),
            go,
        ],
        owners,
    )
    (usage,) = usages.values()
    assert usage.workload == WorkloadRef("shop", "StatefulSet", "api")
    assert usage.pods == {"api-1", "api-2"}
    assert usage.peak_bytes == 300.0
    assert usage.restarts == 5 and usage.kills == 5
    assert usage.gomemlimit_missing


def test_score_terms() -> None:
    bare = ContainerUsage(REF, "app", peak_bytes=200 * MIB)
    risk = container_risk(bare, WEEK_S)
    assert (risk.score, risk.reasons) == (15, ("no memory limit",))
    loose = ContainerUsage(
        REF, "app", peak_bytes=100 * MIB, limit_bytes=1024 * MIB, request_bytes=256 * MIB
    )
    assert container_risk(loose, WEEK_S).reasons == ("limit is 4.0× the request",)
    error = Finding("KP501", "grace-shorter-than-drain", Severity.ERROR, "m", Location("a", 1))
    assert container_risk(loose, WEEK_S, [error]).reasons[-1] == "deploy rules: KP501"


@given(
    kills=st.integers(0, 200),
    more=st.integers(1, 50),
    peak=st.floats(0, 4096),
    slope_mib_per_day=st.floats(-100, 500),
)
def test_more_kills_never_lower_the_score(
    kills: int, more: int, peak: float, slope_mib_per_day: float
) -> None:
    def usage(k: int) -> ContainerUsage:
        return ContainerUsage(
            REF, "app", peak_bytes=peak * MIB, last_bytes=peak * MIB,
            slope_bytes_per_s=slope_mib_per_day * MIB / 86400, limit_bytes=1024 * MIB,
            request_bytes=512 * MIB, oom_killed=k > 0, restarts=k,
        )  # fmt: skip

    before, after = (
        container_risk(usage(kills), WEEK_S),
        container_risk(usage(kills + more), WEEK_S),
    )
    assert after.score >= before.score
    assert 0 <= after.score <= 100


def test_krr_sizing() -> None:
    rec = krr_memory_recommendation(100 * MIB, 512 * MIB, capped=False, growing=False)
    assert rec.request_bytes == rec.limit_bytes == math.ceil(115.0) * MIB
    assert rec.over_provisioned and rec.note == "over-provisioned: gives back 397 MiB"
    small = krr_memory_recommendation(10 * MIB, 256 * MIB, capped=False, growing=False)
    assert small.limit_bytes == 100 * MIB  # krr's floor
    tight = krr_memory_recommendation(250 * MIB, 256 * MIB, capped=True, growing=False)
    assert not tight.over_provisioned and "capped by the limit" in tight.note


def test_inventory_from_a_kubectl_dump() -> None:
    import json

    inventory = build_inventory(
        [("all.json", json.dumps(kubectl_dump(five_workloads()), indent=2))]
    )
    search = WorkloadRef("shop", "Deployment", "search")
    assert inventory.owners.workload("shop", "search-7d4b9c6f8-a1b2c") == search
    assert inventory.owners.workload("payments", "ledger-0") == WorkloadRef(
        "payments", "StatefulSet", "ledger"
    )
    spec = inventory.containers[search]["search"]
    assert (spec.grace_s, spec.prestop_s, spec.limit_bytes) == (10, 20, 1024 * MIB)
    assert spec.gomemlimit_env is True
    assert (
        inventory.containers[WorkloadRef("batch", "DaemonSet", "log-shipper")][
            "shipper"
        ].gomemlimit_env
        is False
    )
    assert {ref.name for ref in inventory.findings} == {"cart", "gateway"}
    assert {f.rule for fs in inventory.findings.values() for f in fs} == {"KP214"}


def test_api_lists_are_read_as_kubectl_prints_them() -> None:
    api = {
        "kind": "DeploymentList",
        "apiVersion": "apps/v1",
        "items": [{"metadata": {"name": "a"}}],
    }
    assert as_kubectl_list(api, "apps/v1")["items"] == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}
    ]


def test_csv_renders_the_first_table_or_the_findings() -> None:
    table = Table("t", ("rank", "workload"), (("1", 'a,"b"'),))
    assert render(Report("fleet", tables=(table,)), OutputFormat.CSV, RenderOptions()) == (
        'rank,workload\n1,"a,""b"""\n'
    )
    finding = Finding(
        "KP201", "memory-limit-missing", Severity.ERROR, "no limit", Location("d.yaml", 3)
    )
    text = render(Report("check", findings=(finding,)), OutputFormat.CSV, RenderOptions())
    assert text.splitlines() == [
        "rule,severity,path,line,subject,message",
        "KP201,error,d.yaml,3,,no limit",
    ]
