"""KP214 single-replica: every restart, eviction or node drain is an outage."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.manifests import ManifestSet, Workload
from killproof.sources.deploy.yamltree import dig, dig_pos

_DEPLOYMENT_LIKE = ("Deployment", "Rollout", "DeploymentConfig")


_LEADER_FLAGS = ("--leader-elect", "--enable-leader-election", "--leader-election")


def _single_by_design(ms: ManifestSet, w: Workload) -> bool:
    """One pod by design: ``strategy: Recreate`` (two pods must never run at once), or a
    leader-elected controller (only the leader works; more replicas are only standbys)."""
    if dig(w.obj.body, "spec", "strategy", "type") == "Recreate":
        return True
    for c in ms.containers_of(w):
        for word in c.argv():
            flag = word.split("=", 1)
            if flag[0] in _LEADER_FLAGS and (len(flag) == 1 or flag[1].lower() != "false"):
                return True
    return False


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Serving Deployments with one replica (explicit or by default) and no HPA."""
    ms = facts.manifests
    for w in ms.workloads:
        if w.kind not in _DEPLOYMENT_LIKE or w.replicas != 1 or ms.hpa_for(w) is not None:
            continue
        if not any(ms.serving(c) for c in ms.containers_of(w)) or _single_by_design(ms, w):
            continue
        how = (
            "replicas: 1"
            if "replicas" in (w.obj.body.get("spec") or {})
            else "no replicas (defaults to 1)"
        )
        yield RULE.finding(
            f"{w.kind}/{w.obj.name} serves traffic with {how} and no HPA: each OOM kill, eviction, "
            "rollout or node drain takes the whole service down",
            loc(dig_pos(w.obj.body, "spec", "replicas"), w.obj.ref),
        )


BAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: api
          image: api:1
          ports: [{containerPort: 8080}]
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP214",
    name="single-replica",
    severity=Severity.INFO,
    summary="Serving Deployment with replicas 1 and no HPA.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "Deployments (and Argo Rollouts, OpenShift DeploymentConfigs) with a serving "
            "container whose `spec.replicas` is 1 or absent "
            "(the default is 1) and that no HorizontalPodAutoscaler targets. "
            "Single by design is not flagged: `strategy: Recreate` (two pods must never run "
            "at once) or a leader-elected controller (`--leader-elect`). "
            "Load generators (`loadgen`, `load-generator`, locust, k6 … by workload, "
            "container or image name) send traffic and serve none; a bare Pod serves only "
            "when a Service selects it."
        ),
        why=(
            "With one pod, a kill is an outage: the OOM-killed container restarts with "
            "back-off, an evicted pod is rescheduled from scratch, and a node drain waits on "
            "nothing. Informational because some services are singletons by design."
        ),
        example="`replicas: 1` on a Deployment with a container port.",
        fix=(
            "Run at least 2 replicas (or an HPA with minReplicas ≥ 2) and a PDB with "
            "maxUnavailable: 1."
        ),
        references=(
            "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#replicas",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deployment.yaml"),),
    good=(Example("yaml", BAD.replace("replicas: 1", "replicas: 3"), "deployment.yaml"),),
)
