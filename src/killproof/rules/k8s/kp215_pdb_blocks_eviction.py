"""KP215 pdb-blocks-eviction: a PDB that allows zero disruptions."""

from __future__ import annotations

import math
from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc
from killproof.sources.deploy.manifests import K8sObject, Workload
from killproof.sources.deploy.yamltree import dig, dig_pos


def _count(value: object, replicas: int, round_up: bool) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        exact = int(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _replicas(facts: DeployFacts, w: Workload) -> tuple[int, str]:
    hpa = facts.manifests.hpa_for(w)
    if hpa is not None and isinstance(dig(hpa.body, "spec", "minReplicas"), int):
        return int(dig(hpa.body, "spec", "minReplicas")), f"HPA/{hpa.name} minReplicas"
    if hpa is not None:
        return 1, f"HPA/{hpa.name} minReplicas (default 1)"
    return w.replicas or 1, "replicas"


def _allowed(pdb: K8sObject, replicas: int) -> tuple[int, str] | None:
    spec = pdb.body.get("spec") or {}
    if "maxUnavailable" in spec:  # maxUnavailable percentages round up (kubernetes/disruption)
        n = _count(spec["maxUnavailable"], replicas, round_up=True)
        return None if n is None else (max(n, 0), "maxUnavailable")
    if "minAvailable" in spec:  # minAvailable percentages round up too
        n = _count(spec["minAvailable"], replicas, round_up=True)
        return None if n is None else (max(replicas - n, 0), "minAvailable")
    return None


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Each PDB against the replicas (or HPA minimum) of each workload it selects."""
    for pdb in facts.manifests.of_kind("PodDisruptionBudget"):
        for w in facts.manifests.workloads_selected_by(pdb):
            if w.replicas is None:
                continue  # DaemonSets and Jobs: the PDB's arithmetic differs, not judged here
            replicas, source = _replicas(facts, w)
            allowed = _allowed(pdb, replicas)
            if allowed is None or allowed[0] > 0:
                continue
            field = allowed[1]
            yield RULE.finding(
                f"PodDisruptionBudget/{pdb.name} allows 0 disruptions of {w.kind}/{w.obj.name} "
                f"({field} {(pdb.body.get('spec') or {}).get(field)!s} with {source} {replicas}): "
                "node drains hang, and the cluster autoscaler cannot move the pods",
                loc(dig_pos(pdb.body, "spec", field), pdb.ref),
                [ev(f"{source}: {replicas}", dig_pos(w.obj.body, "spec", "replicas"))],
            )


BAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: api:1
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: api
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: api}
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP215",
    name="pdb-blocks-eviction",
    severity=Severity.WARNING,
    summary="PodDisruptionBudget allows zero disruptions with the given replicas/HPA min.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "PodDisruptionBudgets whose `maxUnavailable` is 0 (or rounds to 0), or whose "
            "`minAvailable` (count or percentage, rounded up) is at least the replicas of a "
            "workload they select — the HPA's `minReplicas` when an HPA targets it, else "
            "`spec.replicas` (default 1)."
        ),
        why=(
            "Evictions that honour PDBs (node drains, cluster-autoscaler scale-down, "
            "upgrades) wait forever on such a budget. Operators then force-delete nodes, and "
            "the pods die without the graceful path the PDB was meant to protect."
        ),
        example="`minAvailable: 2` for a Deployment with 2 replicas.",
        fix="Use `maxUnavailable: 1` (or minAvailable below the minimum replica count).",
        references=(
            "https://kubernetes.io/docs/tasks/run-application/configure-pdb/#think-about-how-your-application-reacts-to-disruptions",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "app.yaml"),),
    good=(Example("yaml", BAD.replace("minAvailable: 2", "maxUnavailable: 1"), "app.yaml"),),
)
