"""Answers to the fleet queries folded into one :class:`ContainerUsage` per workload
container (pure: no IO)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from killproof.fleet.prometheus import Sample
from killproof.fleet.promql import Query, Signal

GOMEMLIMIT_UNSET = float(2**62)
"""go_gc_gomemlimit_bytes at or above this is Go's ``math.MaxInt64`` default: no limit."""


@dataclass(frozen=True, order=True)
class WorkloadRef:
    """A workload: namespace, controller kind (``Deployment``, ``StatefulSet``, ``DaemonSet``,
    ``CronJob``, ``Job``, or ``Pod`` for a bare pod) and name."""

    namespace: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


@dataclass(frozen=True)
class ContainerSpec:
    """What a workload's object says about one container: GOMEMLIMIT in its env (True set,
    False absent, None unknown: ``envFrom``), grace and preStop delay (seconds), memory
    limit and request (bytes, None when unset)."""

    gomemlimit_env: bool | None
    grace_s: float
    prestop_s: float
    limit_bytes: int | None
    request_bytes: int | None


@dataclass
class ContainerUsage:
    """One container of one workload over the window, all its pods merged.

    Bytes for memory, bytes per second for the slope, counts for kills and restarts, a
    0..1 share for throttling. None when no series answered.
    """

    workload: WorkloadRef
    container: str
    pods: set[str] = field(default_factory=set)
    peak_bytes: float | None = None
    last_bytes: float | None = None
    slope_bytes_per_s: float | None = None
    limit_bytes: float | None = None
    request_bytes: float | None = None
    oom_killed: bool = False
    restarts: int = 0
    oom_events: int = 0
    throttled_share: float | None = None
    goroutines: float | None = None
    heap_inuse_bytes: float | None = None
    gomemlimit_bytes: float | None = None
    go_runtime: bool = False
    """Go runtime metrics were scraped from its pods."""
    spec: ContainerSpec | None = None
    """What its object says (from the API or dumps; None without them)."""

    @property
    def kills(self) -> int:
        """OOM kills in the window: cAdvisor's count, else the restarts of a container whose
        last termination was OOMKilled (at least 1 when that reason was seen)."""
        if not self.oom_killed and not self.oom_events:
            return 0
        return max(self.oom_events, self.restarts if self.oom_killed else 0, 1)

    @property
    def gomemlimit_missing(self) -> bool:
        """Go runtime metrics are scraped and GOMEMLIMIT is unset: the runtime says so
        (math.MaxInt64), or, when it exports no limit (Go < 1.19), the manifest's env."""
        if not self.go_runtime:
            return False
        if self.gomemlimit_bytes is not None:
            return self.gomemlimit_bytes >= GOMEMLIMIT_UNSET
        return self.spec is not None and self.spec.gomemlimit_env is False


class OwnerIndex:
    """Pod → workload, from kube-state-metrics (``kube_pod_owner``, ``kube_replicaset_owner``,
    ``kube_job_owner``) or from manifests' ownerReferences."""

    def __init__(self) -> None:
        self.pod_owner: dict[tuple[str, str], tuple[str, str]] = {}
        self.parent: dict[tuple[str, str, str], tuple[str, str]] = {}

    def add_pod(self, namespace: str, pod: str, kind: str, name: str) -> None:
        """``pod`` is owned by ``kind``/``name`` (a ReplicaSet, StatefulSet, Job …)."""
        self.pod_owner[(namespace, pod)] = (kind, name)

    def add_parent(self, namespace: str, kind: str, name: str, parent: tuple[str, str]) -> None:
        """``kind``/``name`` (a ReplicaSet or Job) is owned by ``parent`` (kind, name)."""
        self.parent[(namespace, kind, name)] = parent

    def workload(self, namespace: str, pod: str) -> WorkloadRef:
        """The top owner of ``pod``; the pod itself when nothing owns it."""
        kind, name = self.pod_owner.get((namespace, pod), ("Pod", pod))
        for _ in range(4):  # Pod → ReplicaSet → Deployment; Pod → Job → CronJob
            up = self.parent.get((namespace, kind, name))
            if up is None:
                break
            kind, name = up
        return WorkloadRef(namespace, kind, name)


def add_owner_rows(owners: OwnerIndex, rows: Iterable[tuple[Query, Sequence[Sample]]]) -> None:
    """Fill ``owners`` from the kube-state-metrics owner answers among ``rows``."""
    for query, samples in rows:
        for labels, _ in samples:
            kind, name = labels.get("owner_kind", ""), labels.get("owner_name", "")
            ns = labels.get("namespace", "")
            if not kind or not name or kind == "<none>" or name == "<none>":
                continue
            if query.signal is Signal.POD_OWNER:
                owners.add_pod(ns, labels.get("pod", ""), kind, name)
            elif query.signal is Signal.RS_OWNER:
                owners.add_parent(ns, "ReplicaSet", labels.get("replicaset", ""), (kind, name))
            elif query.signal is Signal.JOB_OWNER:
                owners.add_parent(ns, "Job", labels.get("job_name", ""), (kind, name))


def fold_usage(
    rows: Iterable[tuple[Query, Sequence[Sample]]], owners: OwnerIndex
) -> dict[tuple[WorkloadRef, str], ContainerUsage]:
    """One :class:`ContainerUsage` per (workload, container name), every pod merged: peaks,
    slopes, limits and requests are the largest seen, kills and restarts add up."""
    out: dict[tuple[WorkloadRef, str], ContainerUsage] = {}
    in_pod: dict[tuple[str, str], list[ContainerUsage]] = {}
    per_pod: list[tuple[Signal, str, str, float]] = []
    for query, samples in rows:
        signal = query.signal
        if signal in (Signal.POD_OWNER, Signal.RS_OWNER, Signal.JOB_OWNER):
            continue
        for labels, value in samples:
            ns, pod = labels.get("namespace", ""), labels.get("pod", "")
            if not ns or not pod:
                continue
            if signal in (Signal.GOROUTINES, Signal.HEAP_INUSE, Signal.GOMEMLIMIT):
                per_pod.append((signal, ns, pod, value))
                continue
            container = labels.get("container", "")
            if not container:
                continue
            ref = owners.workload(ns, pod)
            usage = out.get((ref, container))
            if usage is None:
                usage = out[(ref, container)] = ContainerUsage(ref, container)
            if pod not in usage.pods:
                usage.pods.add(pod)
                in_pod.setdefault((ns, pod), []).append(usage)
            _merge(usage, signal, value)
    for signal, ns, pod, value in per_pod:
        # Go runtime metrics are per process: every container of that pod gets them.
        for usage in in_pod.get((ns, pod), ()):
            _merge_go(usage, signal, value)
    return out


def _bigger(old: float | None, new: float) -> float:
    return new if old is None else max(old, new)


def _merge(usage: ContainerUsage, signal: Signal, value: float) -> None:
    match signal:
        case Signal.WS_PEAK:
            usage.peak_bytes = _bigger(usage.peak_bytes, value)
        case Signal.WS_LAST:
            usage.last_bytes = _bigger(usage.last_bytes, value)
        case Signal.WS_SLOPE:
            usage.slope_bytes_per_s = _bigger(usage.slope_bytes_per_s, value)
        case Signal.LIMIT:
            usage.limit_bytes = _bigger(usage.limit_bytes, value)
        case Signal.REQUEST:
            usage.request_bytes = _bigger(usage.request_bytes, value)
        case Signal.OOM_REASON:
            usage.oom_killed = usage.oom_killed or value >= 1
        case Signal.RESTARTS:
            usage.restarts += round(value)
        case Signal.OOM_EVENTS:
            usage.oom_events += round(value)
        case Signal.THROTTLED:
            usage.throttled_share = _bigger(usage.throttled_share, value)
        case _:
            pass


def _merge_go(usage: ContainerUsage, signal: Signal, value: float) -> None:
    usage.go_runtime = True
    if signal is Signal.GOROUTINES:
        usage.goroutines = _bigger(usage.goroutines, value)
    elif signal is Signal.HEAP_INUSE:
        usage.heap_inuse_bytes = _bigger(usage.heap_inuse_bytes, value)
    elif signal is Signal.GOMEMLIMIT:
        usage.gomemlimit_bytes = _bigger(usage.gomemlimit_bytes, value)


def by_workload(
    usages: Mapping[tuple[WorkloadRef, str], ContainerUsage],
) -> dict[WorkloadRef, list[ContainerUsage]]:
    """The containers of each workload, by container name."""
    out: dict[WorkloadRef, list[ContainerUsage]] = {}
    for (ref, _), usage in sorted(usages.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        out.setdefault(ref, []).append(usage)
    return out
