"""The example services, built with the real Go toolchain and run on loopback ports.

``examples/orders`` is the service of the incident (unbounded cache, no SIGTERM handling);
``examples/orders-fixed`` is its corrected twin. These tests check what a user of the
examples relies on: the endpoints answer, /metrics and /debug/pprof/heap are real, the
leaky one's memory grows with every new id while the fixed one's stays flat, and only the
fixed one drains on SIGTERM.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from killproof.sources.pprof import HeapProfile, decode_heap_profile

REPO = Path(__file__).resolve().parent.parent
ORDERS = REPO / "examples" / "orders"
FIXED = REPO / "examples" / "orders-fixed"
MIB = 1 << 20
MAX_INT64 = (1 << 63) - 1
METRIC_NAMES = (
    "go_goroutines",
    "go_memstats_heap_inuse_bytes",
    "go_memstats_heap_alloc_bytes",
    "process_resident_memory_bytes",
    "go_gc_gomemlimit_bytes",
    "go_gc_cycles_total",
    "orders_cache_entries",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """One running example binary, listening on ``127.0.0.1:port``."""

    proc: subprocess.Popen[bytes]
    port: int
    pprof_port: int
    _conn: http.client.HTTPConnection | None = field(default=None, repr=False)

    def get(self, path: str, port: int | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET ``path`` on a new connection; returns (status, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def get_kept_alive(self, path: str) -> bytes:
        """GET ``path`` on one reused connection (fast for many requests); asserts 200."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        self._conn.request("GET", path)
        resp = self._conn.getresponse()
        body = resp.read()
        assert resp.status == 200, (path, resp.status, body[:200])
        return body

    def metrics(self) -> dict[str, float]:
        """``/metrics`` parsed by prometheus_client's own parser: sample name → value."""
        status, body = self.get("/metrics")
        assert status == 200
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }

    def rss_bytes(self) -> int:
        """Resident set size of the process, in bytes, as psutil reads it."""
        rss: int = psutil.Process(self.proc.pid).memory_info().rss
        return rss

    def load_ids(self, ids: range) -> None:
        """Request every order id in ``ids`` once."""
        for order_id in ids:
            self.get_kept_alive(f"/orders?id={order_id}")

    def stderr_text(self) -> str:
        """What the service logged (only after it exited)."""
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")


StartService = Callable[..., Service]


@pytest.fixture
def start(go_build: Callable[[Path], Path]) -> Iterator[StartService]:
    """Start an example (built once per session) on free loopback ports; kill it afterwards."""
    started: list[Service] = []

    def _start(example: Path, **env: str) -> Service:
        binary = go_build(example)
        port, pprof_port = free_port(), free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
        full_env.update(PORT=str(port), ADDR="127.0.0.1", PPROF_PORT=str(pprof_port), **env)
        proc = subprocess.Popen(
            [str(binary)], env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        service = Service(proc, port, pprof_port)
        started.append(service)
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, f"{example.name} exited at start: {service.stderr_text()}"
            try:
                if service.get("/healthz", timeout=1)[0] == 200:
                    return service
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{example.name} never answered /healthz"
            time.sleep(0.02)

    yield _start
    for service in started:
        if service._conn is not None:
            service._conn.close()
        if service.proc.poll() is None:
            service.proc.kill()
        service.proc.wait(timeout=5)
        if service.proc.stderr is not None:
            service.proc.stderr.close()


@pytest.mark.parametrize("example", [ORDERS, FIXED], ids=["orders", "orders-fixed"])
def test_serves_probes_and_orders(start: StartService, example: Path) -> None:
    service = start(example)
    assert service.get("/healthz") == (200, b"ok\n")
    assert service.get("/readyz")[0] == 200

    status, body = service.get("/orders?id=42")
    assert status == 200
    order = json.loads(body)
    assert order["id"] == 42
    assert len(order["lines"]) == 40 + 42 % 121
    assert order["total_cents"] == sum(
        line["quantity"] * line["unit_price_cents"] for line in order["lines"]
    )
    # The same id is the same document, whether rendered or served from the cache.
    assert service.get("/orders?id=42") == (200, body)
    assert service.get("/orders?id=nope")[0] == 400


@pytest.mark.parametrize("example", [ORDERS, FIXED], ids=["orders", "orders-fixed"])
def test_order_documents_are_8_to_32_kib(start: StartService, example: Path) -> None:
    service = start(example)
    # 40 + id % 121 lines: ids 0 and 120 are the smallest and the largest documents.
    smallest = len(service.get_kept_alive("/orders?id=0"))
    largest = len(service.get_kept_alive("/orders?id=120"))
    assert 6 * 1024 <= smallest <= 9 * 1024
    assert 28 * 1024 <= largest <= 32 * 1024


@pytest.mark.parametrize(
    ("example", "env", "limit"),
    [(ORDERS, {}, MAX_INT64), (FIXED, {"GOMEMLIMIT": "115MiB"}, 115 * MIB)],
    ids=["orders", "orders-fixed"],
)
def test_metrics_exposition(
    start: StartService, example: Path, env: dict[str, str], limit: int
) -> None:
    service = start(example, **env)
    service.load_ids(range(3))
    metrics = service.metrics()
    # The counter is exposed as go_gc_cycles_total; the parser keeps that sample name.
    assert set(METRIC_NAMES) <= metrics.keys()
    assert metrics["go_gc_gomemlimit_bytes"] == limit
    assert metrics["orders_cache_entries"] == 3
    assert metrics["go_goroutines"] >= 2
    assert 0 < metrics["go_memstats_heap_alloc_bytes"] <= metrics["go_memstats_heap_inuse_bytes"]
    assert abs(metrics["process_resident_memory_bytes"] - service.rss_bytes()) < 4 * MIB


def fetch_heap_profile(service: Service, port: int) -> HeapProfile:
    """``/debug/pprof/heap`` from ``port``: must be gzip and decode as profile.proto."""
    status, body = service.get("/debug/pprof/heap", port=port)
    assert status == 200
    assert body[:2] == b"\x1f\x8b"
    profile = decode_heap_profile(body)
    assert isinstance(profile, HeapProfile), profile
    return profile


def test_leaky_heap_profile_names_the_cache_on_the_public_port(start: StartService) -> None:
    # GOGC=1 keeps the in-use figures of the profile (as of the last GC) up to date.
    service = start(ORDERS, GOGC="1")
    service.load_ids(range(400))
    profile = fetch_heap_profile(service, service.port)
    top = profile.top_sites("inuse_space", limit=1)[0]
    assert (top.function, Path(top.file).name) == ("main.storeResponse", "cache.go")
    assert top.share > 0.5


def test_fixed_serves_profiles_on_loopback_port_only(start: StartService) -> None:
    service = start(FIXED)
    fetch_heap_profile(service, service.pprof_port)
    assert service.get("/debug/pprof/heap")[0] == 404
    listening = {
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.Process(service.proc.pid).net_connections("tcp")
        if conn.status == psutil.CONN_LISTEN
    }
    assert ("127.0.0.1", service.pprof_port) in listening


@pytest.mark.slow
def test_leaky_memory_grows_with_ids_and_fixed_stays_bounded(start: StartService) -> None:
    # Same load for both: 1,000 ids to warm up, then 2,000 more distinct ids (~36 MiB of
    # documents at ~18 KiB each).
    leaky = start(ORDERS)
    leaky.load_ids(range(1000))
    before = leaky.rss_bytes()
    leaky.load_ids(range(1000, 3000))
    leaky_growth = leaky.rss_bytes() - before
    assert leaky_growth >= 24 * MIB, f"leaky grew {leaky_growth / MIB:.1f} MiB"
    assert leaky.metrics()["orders_cache_entries"] == 3000

    fixed = start(FIXED)  # CACHE_MAX_ENTRIES defaults to 512, as in the Deployment
    fixed.load_ids(range(1000))
    before = fixed.rss_bytes()
    fixed.load_ids(range(1000, 3000))
    fixed_growth = fixed.rss_bytes() - before
    assert fixed_growth < 8 * MIB, f"fixed grew {fixed_growth / MIB:.1f} MiB"
    assert fixed.metrics()["orders_cache_entries"] == 512


class InFlight:
    """A slow GET: sent before the constructor returns, its response read in a thread.

    Sending first means the connection is established (at least in the listen backlog)
    before any signal, so a dying server shows up as a reset, never as a refusal.
    """

    def __init__(self, service: Service, path: str) -> None:
        self.status: int | None = None
        self.body = b""
        self.error: BaseException | None = None
        self._conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=15)
        self._conn.request("GET", path)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            resp = self._conn.getresponse()
            self.status, self.body = resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.error = exc
        finally:
            self._conn.close()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` every 20 ms for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def ready_status(service: Service) -> int:
    """The status of /readyz (0 if the connection is refused)."""
    try:
        return service.get("/readyz", timeout=1)[0]
    except OSError:
        return 0


def test_fixed_fails_readiness_then_drains_and_exits_zero(start: StartService) -> None:
    service = start(FIXED, INVENTORY_LATENCY="1500ms", DRAIN_DELAY="1s")
    slow = InFlight(service, "/orders?id=7")
    time.sleep(0.3)  # the request is now inside its 1.5 s inventory lookup
    sent = time.monotonic()
    service.proc.send_signal(signal.SIGTERM)

    assert wait_until(lambda: ready_status(service) == 503, timeout=1.0)
    # Still serving during the drain delay: endpoints are being removed, not yet gone.
    assert service.get("/healthz")[0] == 200
    assert service.proc.wait(timeout=12) == 0
    took = time.monotonic() - sent
    slow.thread.join(timeout=5)
    assert slow.error is None
    assert slow.status == 200
    assert json.loads(slow.body)["id"] == 7
    assert took < 1.0 + 10.0  # drain delay + Shutdown deadline
    log = service.stderr_text()
    assert "not ready, draining for 1s" in log
    assert "drained, exiting" in log


def test_leaky_dies_on_sigterm_dropping_in_flight_requests(start: StartService) -> None:
    service = start(ORDERS, INVENTORY_LATENCY="1500ms")
    slow = InFlight(service, "/orders?id=7")
    time.sleep(0.3)  # the request is now inside its 1.5 s inventory lookup
    assert ready_status(service) == 200
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(timeout=5) == -signal.SIGTERM
    slow.thread.join(timeout=5)
    assert slow.status is None
    assert isinstance(slow.error, http.client.RemoteDisconnected | ConnectionResetError)


def test_fixed_refuses_a_bad_drain_delay(go_build: Callable[[Path], Path]) -> None:
    proc = subprocess.run(
        [str(go_build(FIXED))],
        env={"PORT": str(free_port()), "ADDR": "127.0.0.1", "DRAIN_DELAY": "five"},
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert proc.returncode == 1
    assert b"DRAIN_DELAY" in proc.stderr


def deployment_in(path: Path) -> Any:
    """The single Deployment among the YAML documents of ``path`` (plain dicts and lists)."""
    (deployment,) = [
        doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc["kind"] == "Deployment"
    ]
    return deployment


def test_leaky_deployment_carries_the_incident() -> None:
    pod = deployment_in(ORDERS / "deploy" / "deployment.yaml")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "32Mi"},
        "limits": {"cpu": "500m", "memory": "64Mi"},
    }
    assert "GOMEMLIMIT" not in {e["name"] for e in container["env"]}
    assert container["livenessProbe"] == container["readinessProbe"]
    assert "lifecycle" not in container
    assert "terminationGracePeriodSeconds" not in pod


def test_fixed_deployment_budgets_memory_and_grace() -> None:
    deployment = deployment_in(FIXED / "deploy" / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    resources = container["resources"]
    assert resources["limits"]["memory"] == resources["requests"]["memory"] == "128Mi"
    # GOMEMLIMIT at 90 % of the limit, rounded down to whole MiB.
    assert env["GOMEMLIMIT"] == f"{int(128 * 0.9)}MiB"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pre_stop_s = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain_s = float(env["DRAIN_DELAY"].removesuffix("s"))
    shutdown_deadline_s = 10  # context.WithTimeout in main.go
    assert pre_stop_s + drain_s + shutdown_deadline_s < pod["terminationGracePeriodSeconds"]
    assert deployment["spec"]["replicas"] == 2


def test_go_directives() -> None:
    # go 1.22 in the leaky one: old timer semantics (KP116) and no cgroup-aware GOMAXPROCS (KP504).
    assert "\ngo 1.22\n" in (ORDERS / "go.mod").read_text()
    assert "\ngo 1.25\n" in (FIXED / "go.mod").read_text()
