"""The PromQL ``fleet`` asks, one query per signal per batch of namespaces (never per pod).

Every query is an *instant* query at the evaluation time over a range of ``window``
(``max_over_time(…[7d])``): Prometheus reads each series once and returns one number per
container, instead of a range query's 2,000 points that we would reduce ourselves.
Counters are read as ``max_over_time - min_over_time`` (whole numbers, exact on backfilled
history; a counter reset inside the window undercounts, which errs on the quiet side).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
"""What a Kubernetes namespace name may be (RFC 1123 label)."""

CONTAINER = "namespace, pod, container"
"""The labels a per-container answer is grouped by."""
POD = "namespace, pod"


class Signal(enum.Enum):
    """What one query measures, per container (or per pod for Go runtime metrics)."""

    WS_PEAK = "ws_peak"
    """Peak working set over the window (bytes)."""
    WS_LAST = "ws_last"
    """Last working-set sample (bytes)."""
    WS_SLOPE = "ws_slope"
    """Working-set trend over the window, least squares (bytes per second)."""
    LIMIT = "limit"
    """Memory limit (bytes, kube-state-metrics)."""
    REQUEST = "request"
    """Memory request (bytes, kube-state-metrics)."""
    OOM_REASON = "oom_reason"
    """1 when the container's last termination was OOMKilled at some point in the window."""
    RESTARTS = "restarts"
    """Restarts during the window (count)."""
    OOM_EVENTS = "oom_events"
    """cAdvisor OOM events during the window (count)."""
    THROTTLED = "throttled"
    """Share of CFS periods throttled over the window (0..1)."""
    GOROUTINES = "goroutines"
    """Peak go_goroutines (per pod)."""
    HEAP_INUSE = "heap_inuse"
    """Peak go_memstats_heap_inuse_bytes (bytes, per pod)."""
    GOMEMLIMIT = "gomemlimit"
    """Last go_gc_gomemlimit_bytes (bytes, per pod; math.MaxInt64 when unset)."""
    POD_OWNER = "pod_owner"
    """kube_pod_owner: pod → owner_kind/owner_name."""
    RS_OWNER = "rs_owner"
    """kube_replicaset_owner: ReplicaSet → Deployment."""
    JOB_OWNER = "job_owner"
    """kube_job_owner: Job → CronJob."""


@dataclass(frozen=True)
class Query:
    """One PromQL text and what it measures, for one batch of namespaces."""

    signal: Signal
    promql: str
    namespaces: tuple[str, ...]


def selector(namespaces: Sequence[str]) -> str:
    """A label matcher for the batch: ``namespace=~"a|b"`` (names are regex-escaped)."""
    bad = [n for n in namespaces if not DNS_LABEL.fullmatch(n)]
    if bad:  # a namespace is a DNS label: anything else would change the regex
        raise ValueError(f"not a namespace name: {bad[0]!r}")
    return f'namespace=~"{"|".join(namespaces)}"'


def batch_queries(namespaces: Sequence[str], window: str) -> list[Query]:
    """Every query for one batch of namespaces over ``window`` (a PromQL duration)."""
    ns = selector(namespaces)
    ws = f'container_memory_working_set_bytes{{{ns},container!="",container!="POD"}}'
    texts = {
        Signal.WS_PEAK: f"max by ({CONTAINER}) (max_over_time({ws}[{window}]))",
        Signal.WS_LAST: f"max by ({CONTAINER}) (last_over_time({ws}[{window}]))",
        Signal.WS_SLOPE: f"max by ({CONTAINER}) (deriv({ws}[{window}]))",
        Signal.LIMIT: _last("kube_pod_container_resource_limits", ns, window),
        Signal.REQUEST: _last("kube_pod_container_resource_requests", ns, window),
        Signal.OOM_REASON: (
            f"max by ({CONTAINER}) (max_over_time(kube_pod_container_status_last_terminated"
            f'_reason{{{ns},reason="OOMKilled"}}[{window}]))'
        ),
        Signal.RESTARTS: _delta(f"kube_pod_container_status_restarts_total{{{ns}}}", window),
        Signal.OOM_EVENTS: _delta(
            f'container_oom_events_total{{{ns},container!="",container!="POD"}}', window
        ),
        Signal.THROTTLED: (
            f"sum by ({CONTAINER}) (increase(container_cpu_cfs_throttled_periods_total"
            f'{{{ns},container!=""}}[{window}])) / sum by ({CONTAINER}) '
            f'(increase(container_cpu_cfs_periods_total{{{ns},container!=""}}[{window}]))'
        ),
        Signal.GOROUTINES: f"max by ({POD}) (max_over_time(go_goroutines{{{ns}}}[{window}]))",
        Signal.HEAP_INUSE: (
            f"max by ({POD}) (max_over_time(go_memstats_heap_inuse_bytes{{{ns}}}[{window}]))"
        ),
        Signal.GOMEMLIMIT: (
            f"min by ({POD}) (last_over_time(go_gc_gomemlimit_bytes{{{ns}}}[{window}]))"
        ),
        Signal.POD_OWNER: (
            f"max by ({POD}, owner_kind, owner_name) "
            f"(last_over_time(kube_pod_owner{{{ns}}}[{window}]))"
        ),
        Signal.RS_OWNER: (
            "max by (namespace, replicaset, owner_kind, owner_name) "
            f"(last_over_time(kube_replicaset_owner{{{ns}}}[{window}]))"
        ),
        Signal.JOB_OWNER: (
            "max by (namespace, job_name, owner_kind, owner_name) "
            f"(last_over_time(kube_job_owner{{{ns}}}[{window}]))"
        ),
    }
    return [Query(signal, text, tuple(namespaces)) for signal, text in texts.items()]


def _last(metric: str, ns: str, window: str) -> str:
    return f'max by ({CONTAINER}) (last_over_time({metric}{{{ns},resource="memory"}}[{window}]))'


def _delta(series: str, window: str) -> str:
    return (
        f"max by ({CONTAINER}) (max_over_time({series}[{window}]) - "
        f"min_over_time({series}[{window}]))"
    )


NAMESPACE_MATCHES = (
    'container_memory_working_set_bytes{container!=""}',
    "kube_pod_owner",
    "kube_pod_container_resource_limits",
)
"""Series whose ``namespace`` label values list the namespaces to ask about."""


def per_pod_queries(namespace: str, pod: str, window: str) -> list[str]:
    """The queries a per-pod tool (krr's way) sends for one pod: the comparison in
    ``bench/fleet_5000.py``."""
    sel = f'namespace="{namespace}",pod="{pod}"'
    ws = f'container_memory_working_set_bytes{{{sel},container!="",container!="POD"}}'
    return [
        f"max by ({CONTAINER}) (max_over_time({ws}[{window}]))",
        f"max by ({CONTAINER}) (deriv({ws}[{window}]))",
        f'max by ({CONTAINER}) (last_over_time(kube_pod_container_resource_limits{{{sel},resource="memory"}}[{window}]))',
        f"max by ({CONTAINER}) (max_over_time(kube_pod_container_status_restarts_total{{{sel}}}[{window}]))",
    ]
