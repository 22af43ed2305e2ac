"""KP204 cpu-request-missing: no CPU request (a CPU limit is never demanded)."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.manifests import ContainerRole
from killproof.sources.deploy.yamltree import dig_pos


def check(facts: DeployFacts) -> Iterator[Finding]:
    """App/sidecar containers with no CPU request and no limit to default it from."""
    for c in facts.manifests.containers():
        if c.role is ContainerRole.INIT:
            continue
        if c.resource("requests", "cpu") is not None or c.resource("limits", "cpu") is not None:
            continue
        obj = c.workload.obj
        if {"requests.cpu", "limits.cpu"} & facts.manifests.limit_range_defaults(
            obj.namespace, obj.origin
        ):
            continue
        yield RULE.finding(
            f"container {c.name!r} requests no CPU: under contention it gets almost none, "
            "probes time out and the kubelet restarts it",
            loc(dig_pos(c.spec, "resources", "requests"), c.subject),
        )


BAD = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db-proxy
spec:
  template:
    spec:
      containers:
        - name: proxy
          image: proxy:1
          resources:
            requests:
              memory: 64Mi
            limits:
              memory: 128Mi
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP204",
    name="cpu-request-missing",
    severity=Severity.WARNING,
    summary="A container requests no CPU (it never demands a CPU limit).",
    family="k8s",
    docs=RuleDocs(
        what=(
            "App and sidecar containers with no `requests.cpu` (nor a `limits.cpu` or "
            "LimitRange default it would take its request from). A CPU *limit* is never "
            "required: throttling is its own way to miss probe deadlines."
        ),
        why=(
            "CPU shares follow requests. A container with none gets 2 shares out of "
            "thousands when the node is busy, so its probe handlers answer late, the liveness "
            "probe fails `failureThreshold` times and the kubelet kills it."
        ),
        example="A StatefulSet container with memory set and no CPU request.",
        fix=(
            "Set `resources.requests.cpu` to typical usage (e.g. `100m`); leave the CPU limit "
            "off unless you need it."
        ),
        references=(
            "https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#how-pods-with-resource-limits-are-run",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "statefulset.yaml"),),
    good=(
        Example(
            "yaml",
            BAD.replace("memory: 64Mi", "memory: 64Mi\n              cpu: 50m"),
            "statefulset.yaml",
        ),
    ),
)
