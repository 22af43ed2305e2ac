"""KP203 memory-overcommit: limit far above request, or request above limit."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc
from killproof.sources.deploy.quantity import QuantityError, format_bytes, memory_bytes
from killproof.sources.deploy.yamltree import dig_pos


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Compare each container's memory limit with its request."""
    ratio_max = facts.thresholds.overcommit_ratio
    for c in facts.manifests.containers():
        limit_text, request_text = c.resource("limits", "memory"), c.resource("requests", "memory")
        if limit_text is None or request_text is None:
            continue
        try:
            limit, request = memory_bytes(limit_text), memory_bytes(request_text)
        except (QuantityError, TypeError):
            continue
        at = dig_pos(c.spec, "resources", "limits", "memory")
        proof = [
            ev(
                f"requests.memory: {request_text}",
                dig_pos(c.spec, "resources", "requests", "memory"),
            )
        ]
        if request > limit:
            yield RULE.finding(
                f"container {c.name!r} requests more memory ({request_text}) than its limit "
                f"({limit_text}); the API server rejects the pod",
                loc(dig_pos(c.spec, "resources", "requests", "memory"), c.subject),
                [ev(f"limits.memory: {limit_text}", at)],
                severity=Severity.ERROR,
            )
        elif request > 0 and limit / request > ratio_max:
            yield RULE.finding(
                f"container {c.name!r} may use {limit / request:.1f}× the memory it reserves "
                f"({format_bytes(limit)} vs {format_bytes(request)}; threshold {ratio_max:g}×): "
                "on a busy node it is evicted or OOM-killed long before its limit",
                loc(at, c.subject),
                proof,
                remedy=(
                    "Raise the request toward real usage or lower the limit so limit/request "
                    f"≤ {ratio_max:g}."
                ),
            )


BAD = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
spec:
  containers:
    - name: api
      image: api:1
      resources:
        requests:
          memory: 128Mi
        limits:
          memory: 2Gi
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP203",
    name="memory-overcommit",
    severity=Severity.WARNING,
    summary="Memory limit more than 2× the request (configurable), or request above limit.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "Containers whose `limits.memory` / `requests.memory` exceeds "
            "`thresholds.overcommit_ratio` (default 2), or whose request exceeds the limit "
            "(an error: the pod is rejected)."
        ),
        why=(
            "Nodes are packed by requests. Memory between the request and the limit is "
            "borrowed: when the node runs short, pods above their request are evicted first, "
            "and with many overcommitted pods the node's OOM killer fires before any pod "
            "reaches its own limit."
        ),
        example="Request 128Mi with limit 2Gi (16×).",
        fix="Raise the request toward real usage or lower the limit so limit/request ≤ 2.",
        references=(
            "https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "pod.yaml"),),
    good=(Example("yaml", BAD.replace("2Gi", "256Mi"), "pod.yaml"),),
)
