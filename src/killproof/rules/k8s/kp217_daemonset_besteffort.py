"""KP217 daemonset-besteffort: a node's only copy is the first pod evicted from it."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.manifests import Container, ContainerRole

_RESOURCES = ("cpu", "memory")


def _unbounded(c: Container) -> bool:
    """No CPU or memory request or limit at all on this container."""
    return all(
        c.resource(section, name) is None
        for section in ("requests", "limits")
        for name in _RESOURCES
    )


def check(facts: DeployFacts) -> Iterator[Finding]:
    """DaemonSets whose every container (init containers too) has no CPU or memory request
    or limit, in a namespace no LimitRange gives defaults: the pod's QoS class is
    BestEffort. Reported once, at the pod template's first container."""
    ms = facts.manifests
    for w in ms.workloads:
        if w.kind != "DaemonSet":
            continue
        containers = ms.containers_of(w)
        if not containers or not all(_unbounded(c) for c in containers):
            continue
        if ms.limit_range_defaults(w.obj.namespace, w.obj.origin):
            continue
        names = ", ".join(repr(c.name) for c in containers)
        at = next((c for c in containers if c.role is ContainerRole.APP), containers[0])
        yield RULE.finding(
            f"no container of DaemonSet/{w.obj.name} ({names}) has a CPU or memory request or "
            "limit: the pod is BestEffort, the first the kubelet evicts under node pressure "
            "and the first the kernel OOM-kills (oom_score_adj 1000), and it is that node's "
            "only copy: the node loses the agent or proxy until the pressure is gone",
            loc(at.at, f"DaemonSet/{w.obj.name}"),
        )


BAD = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: edge-proxy
spec:
  template:
    spec:
      containers:
        - name: proxy
          image: proxy:1
          ports:
            - containerPort: 8080
              hostPort: 80
"""
GOOD = BAD + "          resources:\n            requests: {cpu: 100m, memory: 128Mi}\n"

RULE: Rule[DeployFacts] = Rule(
    id="KP217",
    name="daemonset-besteffort",
    severity=Severity.WARNING,
    summary="No container of a DaemonSet has any resources: the pod is BestEffort.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "DaemonSets in which no container (init containers included) sets a CPU or "
            "memory request or limit, in a namespace whose LimitRange (if any in the files) "
            "gives no defaults: Kubernetes puts the pod in the BestEffort QoS class. "
            "Reported once per DaemonSet, beside the per-container KP201/KP202/KP204."
        ),
        why=(
            "Under node memory pressure the kubelet evicts BestEffort pods first, and the "
            "kernel's OOM killer prefers them (`oom_score_adj` 1000). A DaemonSet pod is the "
            "node's only copy of an edge proxy, a log shipper or a CNI agent: there is no "
            "second replica on that node, so the node's share of traffic or telemetry is "
            "lost until the pressure is gone, and the recreated pod lands on the same node."
        ),
        example="An edge-proxy DaemonSet on hostPort 80 with no `resources` at all.",
        fix=(
            "Give the main container a CPU and memory request (Burstable), or requests equal "
            "to limits on every container (Guaranteed); a `priorityClassName` such as "
            "`system-node-critical` also keeps node agents from being evicted first."
        ),
        references=(
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/",
            "https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "daemonset.yaml"),),
    good=(Example("yaml", GOOD, "daemonset.yaml"),),
)
