"""KP202 memory-request-missing: the scheduler places the pod on nothing."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.manifests import ContainerRole
from killproof.sources.deploy.yamltree import dig_pos


def check(facts: DeployFacts) -> Iterator[Finding]:
    """No memory request and no limit to default it from (Kubernetes copies a lone limit)."""
    for c in facts.manifests.containers():
        if c.role is ContainerRole.INIT:
            continue
        if (
            c.resource("requests", "memory") is not None
            or c.resource("limits", "memory") is not None
        ):
            continue
        obj = c.workload.obj
        if {"requests.memory", "limits.memory"} & facts.manifests.limit_range_defaults(
            obj.namespace, obj.origin
        ):
            continue
        yield RULE.finding(
            f"container {c.name!r} requests no memory: the scheduler reserves nothing for it, "
            "so it lands on full nodes and is evicted first (BestEffort/Burstable)",
            loc(dig_pos(c.spec, "resources", "requests"), c.subject),
        )


BAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: api:1
"""
GOOD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: api:1
          resources:
            requests:
              memory: 256Mi
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP202",
    name="memory-request-missing",
    severity=Severity.WARNING,
    summary="A container requests no memory (scheduling on nothing, evicted first).",
    family="k8s",
    docs=RuleDocs(
        what=(
            "App and sidecar containers whose effective memory request is zero: no "
            "`resources.requests.memory`, no `limits.memory` (which Kubernetes copies into an "
            "absent request) and no LimitRange default."
        ),
        why=(
            "The scheduler only counts requests. A pod that requests nothing is packed onto "
            "nodes that have no room for it, and under node memory pressure the kubelet "
            "evicts pods whose usage exceeds their request first; with a zero request that is "
            "always yours."
        ),
        example="A Deployment whose container has no `resources` at all.",
        fix="Set `resources.requests.memory` to the steady-state usage (p95 of working set).",
        references=(
            "https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#pod-selection-for-kubelet-eviction",
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deployment.yaml"),),
    good=(Example("yaml", GOOD, "deployment.yaml"),),
)
