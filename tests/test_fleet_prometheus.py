"""``killproof fleet`` against a real Prometheus (Debian's), loaded by promtool with a week
of kube-state-metrics, cAdvisor and Go runtime history of five workloads: an OOM loop, a
slow leak, a spiky one, a well-sized one and an over-provisioned one (tests/fleet_history.py).

The workloads' objects come from a ``kubectl get … -o json`` dump, read from the folder and
through the official kubernetes client from a local server replaying the same dump as API
List answers: both give the same table.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fleet_history import (
    END,
    MIB,
    WEEK,
    Fleet,
    PodHistory,
    backfill,
    five_workloads,
    have_prometheus,
    kubectl_dump,
    prometheus_server,
)
from killproof.cli import main

needs_prometheus = pytest.mark.skipif(
    not have_prometheus(),
    reason="needs Debian's prometheus and promtool (apt-get install prometheus)",
)

ORDER = [
    "shop/Deployment/cart",
    "shop/Deployment/search",
    "payments/StatefulSet/ledger",
    "payments/Deployment/gateway",
    "batch/DaemonSet/log-shipper",
]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return five_workloads()


@pytest.fixture(scope="module")
def prometheus(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("prometheus")
    with prometheus_server(backfill(fleet, work), work) as url:
        yield url


@pytest.fixture(scope="module")
def dump_dir(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dump")
    (folder / "all.json").write_text(json.dumps(kubectl_dump(fleet), indent=2), encoding="utf-8")
    return folder


def run_fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run ``killproof fleet`` in-process at the history's end; (exit code, output, stderr)."""
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
    code = main(["fleet", "--at", str(END), *args, "-o", str(out)])
    err = capsys.readouterr().err
    return code, out.read_text(encoding="utf-8") if out.exists() else "", err


def pods(fleet: Fleet, name: str) -> list[PodHistory]:
    return [p for p in fleet.pods if p.workload == name]


def peak_mib(fleet: Fleet, name: str) -> float:
    """The largest working-set sample the history holds for the workload (MiB)."""
    start = END - WEEK
    return max(p.ws_sample(t - start) for p in pods(fleet, name) for t in fleet.times()) / MIB


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{w['namespace']}/{w['kind']}/{w['name']}": w for w in report["workloads"]}


@pytest.mark.slow
@needs_prometheus
def test_exact_ranking_and_reasons(
    prometheus: str, fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, err = run_fleet(tmp_path, capsys, "--prometheus", prometheus, "-f", "json")
    assert code == 0, err
    report = json.loads(text)
    assert report["schema_version"] and report["command"] == "fleet"
    assert [f"{w['namespace']}/{w['kind']}/{w['name']}" for w in report["workloads"]] == ORDER
    assert [w["rank"] for w in report["workloads"]] == [1, 2, 3, 4, 5]
    rows = by_name(report)

    cart = rows["shop/Deployment/cart"]
    (loop,) = pods(fleet, "cart")
    kills = loop.kills_before(WEEK) - loop.kills_before(0)
    peak = peak_mib(fleet, "cart")
    assert kills == 56
    assert cart["reasons"] == [
        f"OOM-killed {kills}× in 7d",
        f"peak {peak:.0f} MiB is {peak / 256:.0%} of the limit",
        "Go runtime without GOMEMLIMIT",
    ]
    assert cart["containers"][0]["oom_kills"] == kills
    assert cart["containers"][0]["restarts"] == kills
    (rec,) = cart["recommendation"]
    assert "capped by the limit" in rec["note"]

    search = rows["shop/Deployment/search"]
    (leak,) = search["containers"]
    assert leak["pods"] == 2
    assert leak["slope_mib_per_day"] == pytest.approx(80, abs=1)
    last = max(p.ws_sample(WEEK) for p in pods(fleet, "search")) / MIB
    assert leak["days_to_limit"] == pytest.approx((1024 - last) / 80, abs=0.05)
    assert search["reasons"][0] == (
        f"grows 80 MiB/day: reaches the 1024 MiB limit in {(1024 - last) / 80:.1f} days"
    )
    assert search["recommendation"][0]["note"].startswith("still growing: a leak")
    assert "Go runtime without GOMEMLIMIT" not in search["reasons"]  # 900 MiB scraped

    ledger = rows["payments/StatefulSet/ledger"]
    assert ledger["reasons"] == [
        f"peak {peak_mib(fleet, 'ledger'):.0f} MiB is 94% of the limit",
        "limit is 2.0× the request",
        "Go runtime without GOMEMLIMIT",
        "CPU throttled in 30% of periods",
    ]
    assert ledger["containers"][0]["oom_kills"] == 0

    for quiet in ("payments/Deployment/gateway", "batch/DaemonSet/log-shipper"):
        assert rows[quiet]["score"] == 0 and rows[quiet]["reasons"] == []
    assert cart["score"] > search["score"] > ledger["score"] > 0

    shipper = rows["batch/DaemonSet/log-shipper"]["recommendation"][0]
    expected = math.ceil(peak_mib(fleet, "log-shipper") * 1.15)
    assert shipper["memory_limit_mib"] == shipper["memory_request_mib"] == expected
    assert shipper["over_provisioned"] is True
    gateway = rows["payments/Deployment/gateway"]["recommendation"][0]
    assert gateway["over_provisioned"] is False
    assert gateway["memory_limit_mib"] == math.ceil(peak_mib(fleet, "gateway") * 1.15)


@pytest.mark.slow
@needs_prometheus
def test_csv_and_html_are_the_ranking(
    prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "fleet.html"
    code, text, _ = run_fleet(
        tmp_path, capsys, "--prometheus", prometheus, "-f", "csv", "--html", str(page)
    )
    assert code == 0
    html = page.read_text(encoding="utf-8")
    assert "Workloads by kill risk" in html
    assert "AT RISK" in html and "CLEAN" not in html  # 3 workloads score above 0
    assert html.index("shop/Deployment/cart") < html.index("batch/DaemonSet/log-shipper")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["rank", "workload", "score"]
    assert [r[1] for r in rows[1:]] == ORDER
    assert rows[1][6] == "56"  # kills of the OOM loop
    assert rows[2][4] == "1024"  # the leak's limit, MiB


@pytest.mark.slow
@needs_prometheus
def test_namespace_filter(
    prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, _ = run_fleet(
        tmp_path, capsys, "--prometheus", prometheus, "--namespace", "payments", "-f", "json"
    )
    assert code == 0
    assert list(by_name(json.loads(text))) == ORDER[2:4]


# -- the workloads' objects: dump folder and the API (official client, replayed answers) --

_ROUTES = {
    "/apis/apps/v1/deployments": ("Deployment", "apps/v1"),
    "/apis/apps/v1/statefulsets": ("StatefulSet", "apps/v1"),
    "/apis/apps/v1/daemonsets": ("DaemonSet", "apps/v1"),
    "/api/v1/pods": ("Pod", "v1"),
    "/api/v1/events": ("Event", "v1"),
}


class _ReplayAPI(BaseHTTPRequestHandler):
    """Answers the list calls of `kubectl get deploy,sts,ds,pods,events -A` from a dump,
    the way the API server does: a ``<Kind>List`` whose items carry no kind/apiVersion."""

    dump: ClassVar[dict[str, Any]] = {}
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.seen.append((path, self.headers.get("Authorization", "")))
        route = _ROUTES.get(path)
        if route is None:
            self.send_error(404)
            return
        kind, api_version = route
        items = [
            {k: v for k, v in item.items() if k not in ("kind", "apiVersion")}
            for item in self.dump["items"]
            if item["kind"] == kind
        ]
        body = json.dumps({
            "kind": f"{kind}List", "apiVersion": api_version,
            "metadata": {"resourceVersion": "4711"}, "items": items,
        }).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def kube_api(fleet: Fleet, tmp_path: Path) -> Iterator[tuple[Path, list[tuple[str, str]]]]:
    """A kubeconfig whose context ``replay`` points at the replaying server."""
    _ReplayAPI.dump = kubectl_dump(fleet)
    _ReplayAPI.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ReplayAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: replay\n"
        f"clusters:\n- name: replay\n  cluster:\n    server: http://127.0.0.1:{server.server_port}\n"
        "users:\n- name: replay\n  user:\n    token: replay-token\n"
        "contexts:\n- name: replay\n  context:\n    cluster: replay\n    user: replay\n",
        encoding="utf-8",
    )
    try:
        yield config, _ReplayAPI.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.slow
@needs_prometheus
def test_api_and_dump_give_the_same_table(
    prometheus: str,
    dump_dir: Path,
    kube_api: tuple[Path, list[tuple[str, str]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubeconfig, seen = kube_api
    code, from_dump, err = run_fleet(
        tmp_path, capsys, "--prometheus", prometheus, "--from-dump", str(dump_dir)
    )
    assert code == 0, err
    code, from_api, err = run_fleet(
        tmp_path, capsys, "--prometheus", prometheus,
        "--kube-context", "replay", "--kubeconfig", str(kubeconfig),
    )  # fmt: skip
    assert code == 0, err
    table = from_dump.split("\n\n")[1]
    assert table == from_api.split("\n\n")[1]
    assert {path for path, _ in seen} == set(_ROUTES)
    assert {auth for _, auth in seen} == {"Bearer replay-token"}
    # The objects add what Prometheus cannot know: the leak's preStop eats its grace period.
    code, text, _ = run_fleet(
        tmp_path, capsys, "--prometheus", prometheus, "--from-dump", str(dump_dir), "-f", "json"
    )
    rows = by_name(json.loads(text))
    assert (
        "preStop 20 s uses the whole 10 s grace period" in rows["shop/Deployment/search"]["reasons"]
    )
    assert rows["shop/Deployment/cart"]["rules"] == ["KP214"]  # one replica, no HPA
    assert list(rows) == ORDER
    findings = json.loads(text)["findings"]
    assert {(f["rule"], f["subject"]) for f in findings} == {
        ("KP214", "Deployment/cart"),
        ("KP214", "Deployment/gateway"),
    }


# -- partial answers --


class _RefusingProxy(BaseHTTPRequestHandler):
    """Forwards to Prometheus but refuses every query holding :attr:`refuse` (HTTP 503)."""

    upstream = ""
    refuse = "deriv("

    def _forward(self, body: bytes | None) -> None:
        request = urllib.request.Request(
            self.upstream + self.path, data=body, method=self.command,
            headers={"Content-Type": self.headers.get("Content-Type", "")},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, payload = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.refuse in urllib.parse.unquote_plus(body.decode()):
            payload = b'{"status":"error","errorType":"unavailable","error":"overloaded"}'
            self.send_response(503)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self._forward(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def refusing_proxy(prometheus: str) -> Iterator[str]:
    """The URL of a proxy in front of Prometheus that refuses some queries."""
    _RefusingProxy.upstream = prometheus
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        _RefusingProxy.refuse = "deriv("
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.slow
@needs_prometheus
def test_refused_queries_give_a_partial_ranking_with_a_warning(
    refusing_proxy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, err = run_fleet(tmp_path, capsys, "--prometheus", refusing_proxy, "-f", "json")
    assert code == 0
    report = json.loads(text)
    # Three namespaces fit one batch: one trend query, refused.
    assert "warning: query ws_slope for batch, payments, shop: HTTP 503 overloaded" in err
    assert "partial: 1 queries unanswered" in report["summary"]
    rows = by_name(report)
    assert next(iter(rows)) == "shop/Deployment/cart"  # the kills were still read
    assert not any(r.startswith("grows") for r in rows["shop/Deployment/search"]["reasons"])
    assert rows["shop/Deployment/search"]["containers"][0]["slope_mib_per_day"] is None


def test_unreachable_prometheus_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleet_history import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run_fleet(tmp_path, capsys, "--prometheus", url)
    assert code == 2
    assert f"killproof: {url}: Prometheus did not answer: connection refused" in err


@pytest.mark.slow
@needs_prometheus
def test_no_query_answered_is_an_input_error(
    refusing_proxy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _RefusingProxy.refuse = ""  # every query
    code, _, err = run_fleet(tmp_path, capsys, "--prometheus", refusing_proxy)
    assert code == 2
    assert (
        f"killproof: {refusing_proxy}: Prometheus answered none of the 15 queries (HTTP 503 overloaded)"
        in err
    )
