"""A fleet's Prometheus history and its ``kubectl get -o json`` dump, generated, plus a real
Prometheus server loaded with it (``promtool tsdb create-blocks-from openmetrics``).

Shared by tests/test_fleet_prometheus.py and bench/fleet_5000.py. Every series is what
kube-state-metrics, cAdvisor and the Go client library expose, with their label names.
"""

from __future__ import annotations

import contextlib
import functools
import math
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
END = 1_767_225_600
"""The history's last sample: 2026-01-01T00:00:00Z (the tests evaluate here)."""
WEEK = 7 * 86400
MIB = 1 << 20
MAX_INT64 = 9223372036854775807
Profile = Callable[[float], float]
"""Working set (bytes) at ``t`` seconds after the history starts."""


@dataclass(frozen=True)
class PodHistory:
    """One pod (one container) of one workload and how it behaves over the week."""

    namespace: str
    kind: str
    workload: str
    pod: str
    container: str
    limit: int
    request: int
    working_set: Profile
    kill_every_s: float | None = None
    """An OOM loop: killed every this many seconds (restart, OOM event, OOMKilled reason)."""
    go: bool = True
    gomemlimit: int | None = None
    """None: Go's default (math.MaxInt64, unset)."""
    throttled_share: float = 0.0
    replicaset: str = ""
    env_gomemlimit: str | None = None
    grace_s: int = 30
    prestop_sleep_s: int = 0

    def kills_before(self, t: float) -> int:
        """OOM kills in (0, t] (t in seconds after the start)."""
        if self.kill_every_s is None:
            return 0
        # Each kill lands half a sample step before a cycle boundary: between samples.
        return int((t + 150) // self.kill_every_s)

    def restarts(self, t: float) -> float:
        """kube_pod_container_status_restarts_total (and cAdvisor's OOM events) at ``t``."""
        return float(self.kills_before(t))

    def oom_reason(self, t: float) -> float | None:
        """kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}: present
        from the first kill on."""
        return 1.0 if self.kills_before(t) else None

    def ws_sample(self, t: float) -> float:
        """The working set as cAdvisor reports it (whole bytes)."""
        return float(round(self.ws(t)))

    def heap_sample(self, t: float) -> float:
        """go_memstats_heap_inuse_bytes: 70 % of the working set."""
        return float(round(self.ws(t) * 0.7))

    def ws(self, t: float) -> float:
        """Working set at ``t`` (an OOM loop restarts from the bottom after each kill)."""
        if self.kill_every_s is None:
            return self.working_set(t)
        return self.working_set((t + 150) % self.kill_every_s)


@dataclass
class Fleet:
    """Pods and the sample step (seconds)."""

    pods: list[PodHistory] = field(default_factory=list)
    step_s: int = 300
    end: int = END
    span_s: int = WEEK

    def times(self) -> list[int]:
        """Sample times (Unix s), the last one at :attr:`end`."""
        start = self.end - self.span_s
        return list(range(start, self.end + 1, self.step_s))


def _wave(t: float, period: float, phase: float = 0.0) -> float:
    return math.sin(2 * math.pi * (t / period + phase))


def _leak(phase: float, s: float) -> float:
    """The slow leak: 300 MiB growing 80 MiB/day, with an hourly ±4 MiB ripple."""
    return 300 * MIB + 80 * MIB * s / 86400 + 4 * MIB * _wave(s, 3600, phase)


def _periods(step_s: int, share: float, s: float) -> float:
    """CFS periods (100 ms each) so far, or the throttled ``share`` of them."""
    return float(round(s // step_s * step_s * 10 * share))


def _goroutines(s: float) -> float:
    return 40 + 20 * (1 + _wave(s, 86400))


def five_workloads() -> Fleet:
    """Five workloads: an OOM loop, a slow leak, a spiky one, a well-sized one and an
    over-provisioned one (see tests/test_fleet_prometheus.py for what each must show)."""
    day = 86400.0
    pods = [
        PodHistory(
            "shop", "Deployment", "cart", "cart-6f9c8d7b5-x2k4p", "cart",
            limit=256 * MIB, request=256 * MIB,
            working_set=lambda s: 80 * MIB + 176 * MIB * s / 10800,
            kill_every_s=10800, replicaset="cart-6f9c8d7b5",
        ),
        *(
            PodHistory(
                "shop", "Deployment", "search", f"search-7d4b9c6f8-{suffix}", "search",
                limit=1024 * MIB, request=1024 * MIB,
                working_set=functools.partial(_leak, k / 2),
                gomemlimit=900 * MIB, replicaset="search-7d4b9c6f8", env_gomemlimit="900MiB",
                grace_s=10, prestop_sleep_s=20,
            )
            for k, suffix in enumerate(("a1b2c", "d3e4f"))
        ),
        PodHistory(
            "payments", "StatefulSet", "ledger", "ledger-0", "ledger",
            limit=512 * MIB, request=256 * MIB,
            working_set=lambda s: 150 * MIB
            + (330 * MIB if (s % day) >= 7200 and (s % day) < 7200 + 900 else 0),
            throttled_share=0.3,
        ),
        PodHistory(
            "payments", "Deployment", "gateway", "gateway-5c7d8f9b6-q7w8e", "gateway",
            limit=512 * MIB, request=512 * MIB,
            working_set=lambda s: 305 * MIB + 25 * MIB * _wave(s, day),
            gomemlimit=460 * MIB, replicaset="gateway-5c7d8f9b6", env_gomemlimit="460MiB",
        ),
        PodHistory(
            "batch", "DaemonSet", "log-shipper", "log-shipper-h8j9k", "shipper",
            limit=4096 * MIB, request=4096 * MIB,
            working_set=lambda s: 200 * MIB + 10 * MIB * _wave(s, day / 2),
            go=False,
        ),
    ]  # fmt: skip
    return Fleet(pods)


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def write_openmetrics(fleet: Fleet, out: TextIO, times: list[int] | None = None) -> int:
    """Write the fleet's history (or the samples at ``times`` only) as OpenMetrics, each
    family contiguous, samples in time order; return the number of samples."""
    start = fleet.times()[0]
    times = fleet.times() if times is None else times
    n = 0

    def family(name: str, rows: Iterator[tuple[str, Callable[[int], float | None]]]) -> None:
        nonlocal n
        out.write(f"# TYPE {name} gauge\n")
        for labels, value_at in rows:
            for t in times:
                value = value_at(t - start)
                if value is not None:
                    out.write(f"{name}{labels} {value:.17g} {t}\n")
                    n += 1

    def per_container() -> Iterator[tuple[PodHistory, str]]:
        for p in fleet.pods:
            yield p, _labels(namespace=p.namespace, pod=p.pod, container=p.container)

    def constant(v: float) -> Callable[[int], float]:
        return lambda _s: v

    family("kube_pod_owner", (
        (_labels(namespace=p.namespace, pod=p.pod,
                 owner_kind="ReplicaSet" if p.replicaset else p.kind,
                 owner_name=p.replicaset or p.workload, owner_is_controller="true"),
         constant(1))
        for p in fleet.pods
    ))  # fmt: skip
    seen: set[str] = set()
    rs_rows = []
    for p in fleet.pods:
        if p.replicaset and p.replicaset not in seen:
            seen.add(p.replicaset)
            rs_rows.append((
                _labels(namespace=p.namespace, replicaset=p.replicaset,
                        owner_kind="Deployment", owner_name=p.workload,
                        owner_is_controller="true"),
                constant(1),
            ))  # fmt: skip
    family("kube_replicaset_owner", iter(rs_rows))
    for metric, attr in (("limits", "limit"), ("requests", "request")):
        family(f"kube_pod_container_resource_{metric}", (
            (_labels(namespace=p.namespace, pod=p.pod, container=p.container,
                     node="node-1", resource="memory", unit="byte"),
             constant(float(getattr(p, attr))))
            for p in fleet.pods
        ))  # fmt: skip
    family("kube_pod_container_status_restarts_total", (
        (labels, p.restarts) for p, labels in per_container()
    ))  # fmt: skip
    family("kube_pod_container_status_last_terminated_reason", (
        (_labels(namespace=p.namespace, pod=p.pod, container=p.container, reason="OOMKilled"),
         p.oom_reason)
        for p in fleet.pods if p.kill_every_s
    ))  # fmt: skip
    family("container_memory_working_set_bytes", (
        (labels, p.ws_sample) for p, labels in per_container()
    ))  # fmt: skip
    family("container_oom_events_total", (
        (labels, p.restarts) for p, labels in per_container()
    ))  # fmt: skip
    family("container_cpu_cfs_periods_total", (
        (labels, functools.partial(_periods, fleet.step_s, 1.0))
        for _p, labels in per_container()
    ))  # fmt: skip
    family("container_cpu_cfs_throttled_periods_total", (
        (labels, functools.partial(_periods, fleet.step_s, p.throttled_share))
        for p, labels in per_container()
    ))  # fmt: skip
    go_pods = [p for p in fleet.pods if p.go]
    family("go_goroutines", (
        (_labels(namespace=p.namespace, pod=p.pod, job="pods"),
         _goroutines)
        for p in go_pods
    ))  # fmt: skip
    family("go_memstats_heap_inuse_bytes", (
        (_labels(namespace=p.namespace, pod=p.pod, job="pods"),
         p.heap_sample)
        for p in go_pods
    ))  # fmt: skip
    family("go_gc_gomemlimit_bytes", (
        (_labels(namespace=p.namespace, pod=p.pod, job="pods"),
         constant(float(p.gomemlimit if p.gomemlimit is not None else MAX_INT64)))
        for p in go_pods
    ))  # fmt: skip
    out.write("# EOF\n")
    return n


def kubectl_dump(fleet: Fleet) -> dict[str, Any]:
    """What ``kubectl get deploy,sts,ds,pods,events -A -o json`` prints for the fleet."""
    items: list[dict[str, Any]] = []
    workloads: dict[tuple[str, str, str], PodHistory] = {}
    for p in fleet.pods:
        workloads.setdefault((p.namespace, p.kind, p.workload), p)
    api = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1"}
    for (ns, kind, name), p in sorted(workloads.items(), key=lambda kv: (kv[0][1], kv[0])):
        replicas = sum(1 for q in fleet.pods if (q.namespace, q.workload) == (ns, name))
        spec: dict[str, Any] = {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": _pod_spec(p),
            },
        }
        if kind != "DaemonSet":
            spec["replicas"] = replicas
        if kind == "StatefulSet":
            spec["serviceName"] = name
        items.append({
            "apiVersion": api[kind], "kind": kind,
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}",
                         "labels": {"app": name}, "generation": 3,
                         "creationTimestamp": "2025-11-02T09:14:00Z"},
            "spec": spec,
            "status": {"replicas": replicas, "readyReplicas": replicas},
        })  # fmt: skip
    for p in fleet.pods:
        owner_kind = "ReplicaSet" if p.replicaset else p.kind
        labels = {"app": p.workload}
        if p.replicaset:
            labels["pod-template-hash"] = p.replicaset.rsplit("-", 1)[1]
        last_state: dict[str, Any] = {}
        if p.kill_every_s:
            last_state = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": p.pod, "namespace": p.namespace, "labels": labels,
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": owner_kind,
                    "name": p.replicaset or p.workload, "uid": f"uid-{p.pod}-owner",
                    "controller": True, "blockOwnerDeletion": True,
                }],
            },
            "spec": _pod_spec(p),
            "status": {
                "phase": "Running",
                "containerStatuses": [{
                    "name": p.container, "ready": True,
                    "restartCount": p.kills_before(fleet.span_s),
                    "lastState": last_state, "image": f"registry.local/{p.workload}:1.4.2",
                }],
            },
        })  # fmt: skip
    items.append({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "cart-6f9c8d7b5-x2k4p.1800a", "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "name": "cart-6f9c8d7b5-x2k4p", "namespace": "shop"},
        "reason": "BackOff", "type": "Warning",
        "message": "Back-off restarting failed container cart in pod cart-6f9c8d7b5-x2k4p",
    })  # fmt: skip
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def _pod_spec(p: PodHistory) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": p.container,
        "image": f"registry.local/{p.workload}:1.4.2",
        "resources": {
            "limits": {"memory": f"{p.limit // MIB}Mi", "cpu": "1"},
            "requests": {"memory": f"{p.request // MIB}Mi", "cpu": "250m"},
        },
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                          "initialDelaySeconds": 10},
    }  # fmt: skip
    if p.env_gomemlimit:
        container["env"] = [{"name": "GOMEMLIMIT", "value": p.env_gomemlimit}]
    if p.prestop_sleep_s:
        container["lifecycle"] = {
            "preStop": {"exec": {"command": ["sleep", str(p.prestop_sleep_s)]}}
        }
    return {"terminationGracePeriodSeconds": p.grace_s, "containers": [container]}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BLOCK_S = 7200
"""promtool writes 2-hour blocks, and reads its whole input once per block."""


def backfill(fleet: Fleet, workdir: Path) -> Path:
    """The fleet's history as TSDB blocks in ``workdir/data`` (promtool).

    One OpenMetrics file per 2-hour block: promtool re-reads its input for every block it
    writes, so one week in one file is read 84 times (minutes for thousands of pods)."""
    data = workdir / "data"
    chunks: dict[int, list[int]] = {}
    for t in fleet.times():
        chunks.setdefault(t // BLOCK_S, []).append(t)
    om = workdir / "history.om"
    for times in chunks.values():
        with om.open("w", encoding="utf-8") as out:
            write_openmetrics(fleet, out, times)
        subprocess.run(
            [str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
            check=True,
            capture_output=True,
        )
    om.unlink()
    return data


def block_count(data: Path) -> int:
    """TSDB blocks in ``data`` (directories named by a 26-character ULID)."""
    return sum(1 for p in data.iterdir() if p.is_dir() and len(p.name) == 26)


def wait_for_compaction(data: Path, timeout_s: float = 900) -> float:
    """Wait until Prometheus has compacted the backfilled 2-hour blocks (it starts about a
    minute after start-up) and the block count holds for 30 s, as on a server that has
    run for a week; return the seconds waited."""
    started = time.monotonic()
    first = block_count(data)
    last, stable_since = first, time.monotonic()
    while time.monotonic() - started < timeout_s:
        time.sleep(5)
        count = block_count(data)
        if count != last:
            last, stable_since = count, time.monotonic()
        elif count < first // 2 and time.monotonic() - stable_since >= 30:
            break
    return time.monotonic() - started


@contextlib.contextmanager
def prometheus_server(data: Path, workdir: Path) -> Iterator[str]:
    """A real Prometheus on a loopback port over ``data``; yields its URL. The server is
    killed (and waited for) however the block exits."""
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n", encoding="utf-8")
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",  # the backfilled week is in the past
            f"--web.listen-address=127.0.0.1:{port}",
            "--query.lookback-delta=3h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {proc.returncode}: see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus not ready in 120 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()


def have_prometheus() -> bool:
    """Both Debian binaries are installed."""
    return PROMETHEUS.exists() and PROMTOOL.exists() and shutil.which("promtool") is not None
