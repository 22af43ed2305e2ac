"""Prometheus alert rules derived from a drill and the recommended limits. Pure.

Metric names are the defaults of cAdvisor (``container_memory_working_set_bytes``),
kube-state-metrics (``kube_pod_container_resource_limits``,
``kube_pod_container_status_last_terminated_reason``, ``..._restarts_total``) and
client_golang (``go_goroutines``, ``process_cpu_seconds_total``; the GC CPU class
``go_cpu_classes_gc_total_cpu_seconds_total`` needs
``collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC)``). The latency rule reads
the conventional ``http_request_duration_seconds`` histogram: rename it if the service
exports another. Selectors: ``container``/``namespace`` for the Kubernetes metrics, ``job``
(the container name by default) for the ones the service exports.
"""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

from killproof.plan.evidence import DrillEvidence

MEMORY_FRACTION = 0.85
PREDICT_WINDOW = "1h"
GC_CPU_SHARE = 0.25
"""The GC aims at 25 % of the CPU while it runs; sustained above it, it runs constantly."""
GOROUTINE_FACTOR = 2
MIN_GOROUTINE_BASELINE = 100


class AlertsFormat(enum.Enum):
    """``--alerts-format``: plain rule groups, or a prometheus-operator PrometheusRule."""

    RULES = "rules"
    PROMETHEUSRULE = "prometheusrule"


@dataclass(frozen=True)
class AlertTarget:
    """Whom the rules watch: the container (and namespace) and the scrape job."""

    container: str
    namespace: str = ""
    job: str = ""

    @property
    def k8s(self) -> str:
        """Label matchers for cAdvisor and kube-state-metrics series."""
        ns = f',namespace="{self.namespace}"' if self.namespace else ""
        return f'container="{self.container}"{ns}'

    @property
    def app(self) -> str:
        """Label matchers for the series the service exports itself."""
        return f'job="{self.job or self.container}"'


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))


def rules(ev: DrillEvidence, target: AlertTarget) -> list[dict[str, Any]]:
    """The alert rules, in a fixed order (each a Prometheus rule mapping)."""
    prefix = _camel(target.container)
    k8s, app = target.k8s, target.app
    on = "on (namespace, pod, container)"
    limit = f'kube_pod_container_resource_limits{{resource="memory",{k8s}}}'
    working_set = f"container_memory_working_set_bytes{{{k8s}}}"
    baseline = max(MIN_GOROUTINE_BASELINE, ev.peak_goroutines or 0)
    slo_s = ev.slo_ms / 1000
    quantile = ev.slo_percentile / 100
    labels = {"service": target.container, "source": "killproof-plan"}

    def rule(name: str, expr: str, for_: str, severity: str, summary: str) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": f"{prefix}{name}", "expr": expr}
        if for_:
            out["for"] = for_
        out["labels"] = {**labels, "severity": severity}
        out["annotations"] = {"summary": summary}
        return out

    return [
        rule(
            "MemoryNearLimit",
            f"{working_set} / {on} {limit} > {MEMORY_FRACTION}",
            "5m",
            "warning",
            f"{target.container} uses more than {MEMORY_FRACTION:.0%} of its memory limit",
        ),
        rule(
            "MemoryLimitIn1h",
            f"predict_linear({working_set}[30m], 3600) > {on} {limit}",
            "10m",
            "warning",
            f"the {target.container} container's working set reaches its memory limit within "
            f"{PREDICT_WINDOW} at the rate of the last 30 minutes",
        ),
        rule(
            "GoroutinesGrowing",
            f"go_goroutines{{{app}}} > {GOROUTINE_FACTOR * baseline}"
            f" and deriv(go_goroutines{{{app}}}[30m]) > 0",
            "30m",
            "warning",
            f"{target.container} runs more than {GOROUTINE_FACTOR * baseline} goroutines "
            f"({GOROUTINE_FACTOR} × max(the drill's peak {ev.peak_goroutines or 0}, "
            f"{MIN_GOROUTINE_BASELINE})) and the count keeps growing",
        ),
        rule(
            "LatencyOverSLO",
            f"histogram_quantile({quantile:g}, sum by (le) "
            f"(rate(http_request_duration_seconds_bucket{{{app}}}[5m]))) > {slo_s:g}",
            "10m",
            "warning",
            f"{target.container} p{ev.slo_percentile:g} latency is over the drill's SLO "
            f"({ev.slo_ms:g} ms)",
        ),
        rule(
            "OOMKilled",
            f"increase(kube_pod_container_status_restarts_total{{{k8s}}}[15m]) > 0"
            f" and {on} kube_pod_container_status_last_terminated_reason"
            f'{{reason="OOMKilled",{k8s}}} == 1',
            "",
            "critical",
            f"{target.container} restarted after an OOM kill",
        ),
        rule(
            "GCCPUHigh",
            f"rate(go_cpu_classes_gc_total_cpu_seconds_total{{{app}}}[5m])"
            f" / rate(process_cpu_seconds_total{{{app}}}[5m]) > {GC_CPU_SHARE}",
            "15m",
            "warning",
            f"the Go GC uses more than {GC_CPU_SHARE:.0%} of the CPU of {target.container}: "
            "the heap is near GOMEMLIMIT",
        ),
    ]


def document(ev: DrillEvidence, target: AlertTarget, fmt: AlertsFormat) -> dict[str, Any]:
    """The rules file (``groups:``) or a PrometheusRule object holding the same groups."""
    groups = [{"name": f"killproof-{target.container}", "rules": rules(ev, target)}]
    if fmt is AlertsFormat.RULES:
        return {"groups": groups}
    metadata: dict[str, Any] = {"name": f"{target.container}-killproof"}
    if target.namespace:
        metadata["namespace"] = target.namespace
    metadata["labels"] = {"app.kubernetes.io/managed-by": "killproof"}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": groups},
    }


def to_yaml(doc: dict[str, Any]) -> str:
    """YAML text (block style, keys in insertion order, long lines unwrapped)."""
    yaml = YAML(typ="rt")  # the round-trip dumper keeps insertion order
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()
