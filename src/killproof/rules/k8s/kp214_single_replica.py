"""KP214 single-replica: every restart, eviction or node drain is an outage."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.manifests import Container, ManifestSet, Workload
from killproof.sources.deploy.yamltree import dig, dig_pos, iter_maps

_DEPLOYMENT_LIKE = ("Deployment", "Rollout", "DeploymentConfig")


_LEADER_FLAGS = ("--leader-elect", "--enable-leader-election", "--leader-election")
_SCRAPE_PORT = re.compile(r"metrics|telemetry|prom|monitoring|health|probe|pprof|debug")
"""Port names that carry scrapes, probes or profiles, never client requests."""
_EXPORTER_WORDS = frozenset({"exporter", "metrics"})


def _single_by_design(
    ms: ManifestSet, w: Workload, claims: Mapping[tuple[str, str], list[str]]
) -> bool:
    """One pod by design: ``strategy: Recreate`` (two pods must never run at once), a
    leader-elected controller (only the leader works; more replicas are only standbys),
    one shard of a sharded workload (``--shard=0 --total-shards=3``, a ``SHARD`` variable:
    a second replica would do the same shard's work twice), or an exporter whose ports
    only carry scrapes (a second replica exports every series twice)."""
    if dig(w.obj.body, "spec", "strategy", "type") == "Recreate":
        return True
    containers = ms.containers_of(w)
    for c in containers:
        for word in c.argv():
            flag = word.split("=", 1)
            if flag[0] in _LEADER_FLAGS and (len(flag) == 1 or flag[1].lower() != "false"):
                return True
            if word.startswith("-") and "shard" in flag[0].lower():
                return True
        if any("SHARD" in str(e.get("name", "")).upper() for e in iter_maps(c.spec.get("env"))):
            return True
    return _exporter(w, [c for c in containers if ms.serving(c)]) or _owns_volume(w, claims)


_SHARED_MODES = frozenset({"ReadWriteMany", "ReadOnlyMany"})


def _owns_volume(w: Workload, claims: Mapping[tuple[str, str], list[str]]) -> bool:
    """True when the pods mount a PersistentVolumeClaim only one node can attach (its
    ``accessModes`` have no ``ReadWriteMany``/``ReadOnlyMany``, or the claim is not in
    the files): a second replica could not start elsewhere, so the one pod is the design
    (a database, a cache with its disk). ``claims``: access modes by (namespace, name)."""
    for volume in iter_maps(w.pod_spec.get("volumes")):
        claim = dig(volume, "persistentVolumeClaim", "claimName")
        if not isinstance(claim, str) or not claim:
            continue
        if not set(claims.get((w.obj.namespace, claim), ())) & _SHARED_MODES:
            return True
    return False


def _exporter(w: Workload, serving: list[Container]) -> bool:
    """True for a metrics exporter: named as one (``exporter``, ``metrics`` in the workload,
    container or image name) with every port named for scrapes, probes or profiles
    (``http-metrics``, ``telemetry``). Both are needed: some projects name every app port
    ``http-metrics`` so that Prometheus scrapes it, and an unnamed port may take requests."""
    names = [str(p.get("name", "")).lower() for c in serving for p in c.ports]
    if not names or not all(_SCRAPE_PORT.search(n) for n in names):
        return False
    called = [w.obj.name, *(c.name for c in serving)]
    called += [str(c.spec.get("image", "")).rsplit("/", 1)[-1].split(":", 1)[0] for c in serving]
    return any(_EXPORTER_WORDS & set(re.split(r"[-_.]", n.lower())) for n in called)


def _claims(ms: ManifestSet) -> dict[tuple[str, str], list[str]]:
    """Access modes of every PersistentVolumeClaim, by (namespace, name), read once."""
    out: dict[tuple[str, str], list[str]] = {}
    for pvc in ms.of_kind("PersistentVolumeClaim"):
        modes = dig(pvc.body, "spec", "accessModes")
        out.setdefault((pvc.namespace, pvc.name), []).extend(
            str(m) for m in (modes if isinstance(modes, list) else ())
        )
    return out


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Serving Deployments with one replica (explicit or by default) and no HPA."""
    ms = facts.manifests
    claims = _claims(ms)
    for w in ms.workloads:
        if w.kind not in _DEPLOYMENT_LIKE or w.replicas != 1 or ms.hpa_for(w) is not None:
            continue
        if not any(ms.serving(c) for c in ms.containers_of(w)) or _single_by_design(ms, w, claims):
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
            "at once), a leader-elected controller (`--leader-elect`), one shard of a "
            "sharded workload (`--shard=0 --total-shards=3`, a `SHARD` variable), or an "
            "exporter (named `*-exporter` or `*-metrics`) whose ports are all named for "
            "scrapes, probes or profiles (`http-metrics`, `telemetry`): a second replica "
            "would export every series twice; or a workload whose pods mount a "
            "PersistentVolumeClaim one node at a time can attach (no `ReadWriteMany`): a "
            "second replica could not start elsewhere. "
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
