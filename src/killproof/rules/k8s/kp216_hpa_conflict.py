"""KP216 hpa-conflict: an HPA aimed at the wrong workload, or two HPAs on one workload."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc
from killproof.sources.deploy.manifests import K8sObject, ManifestSet, Workload, nearest
from killproof.sources.deploy.yamltree import dig, dig_pos


def _target(hpa: K8sObject) -> tuple[str, str] | None:
    ref = dig(hpa.body, "spec", "scaleTargetRef")
    if not isinstance(ref, dict):
        return None
    kind, name = ref.get("kind"), ref.get("name")
    return (kind, name) if isinstance(kind, str) and isinstance(name, str) else None


def _applied_together(a: K8sObject, b: K8sObject) -> bool:
    """One kustomize build, or one file: HPAs in separate plain files may be alternatives
    (a README saying "apply one of these")."""
    return bool(a.origin) or a.at.path == b.at.path


def _wrong_targets(ms: ManifestSet) -> Iterator[tuple[K8sObject, Workload, Workload]]:
    """(HPA, the workload it is named after and sits beside, the one it scales)."""
    by_name: dict[tuple[str, str, str], list[Workload]] = {}
    for w in ms.workloads:
        by_name.setdefault((w.obj.namespace, w.obj.origin, w.obj.name), []).append(w)
    for h in ms.of_kind("HorizontalPodAutoscaler"):
        target = _target(h)
        if target is None or target[1] == h.name:
            continue
        here = posixpath.dirname(h.at.path)
        own = [
            w
            for w in by_name.get((h.namespace, h.origin, h.name), [])
            if posixpath.dirname(w.obj.at.path) == here
        ]
        scaled = [
            w
            for w in nearest(h, by_name.get((h.namespace, h.origin, target[1]), []), _obj)
            if w.kind == target[0]
        ]
        if own and scaled and not ms.hpas_for(own[0]):
            yield h, own[0], scaled[0]


def _obj(w: Workload) -> K8sObject:
    return w.obj


def check(facts: DeployFacts) -> Iterator[Finding]:
    """HPAs named after a neighbouring workload that scale another one; workloads that two
    differently named HPAs applied together target."""
    ms = facts.manifests
    reported: set[int] = set()
    for h, own, w in _wrong_targets(ms):
        reported.add(id(h))
        yield RULE.finding(
            f"HorizontalPodAutoscaler/{h.name} sits beside {own.kind}/{own.obj.name} but "
            f"scales {w.kind}/{w.obj.name}: {own.obj.name} is never autoscaled"
            + (
                f", and {w.obj.name} has another HPA that fights over its replicas"
                if any(x.name != h.name for x in ms.hpas_for(w))
                else ""
            ),
            loc(dig_pos(h.body, "spec", "scaleTargetRef", "name"), h.ref),
            [ev(f"{own.kind}/{own.obj.name} has no HPA", own.obj.at)],
        )
    for w in ms.workloads:
        hpas = sorted(ms.hpas_for(w), key=lambda h: (h.at.path, h.at.line))
        for h in hpas:
            others = sorted(
                (x for x in hpas if x.name != h.name and _applied_together(h, x)),
                key=lambda x: (x.name != w.obj.name, x.name),
            )
            if id(h) in reported or not others or h.name == w.obj.name:
                continue
            other = others[0]
            if other.name != w.obj.name and other.name < h.name:
                continue  # neither named after the workload: report at the first name only
            reported.add(id(h))
            yield RULE.finding(
                f"HorizontalPodAutoscaler/{h.name} and HorizontalPodAutoscaler/{other.name} "
                f"both scale {w.kind}/{w.obj.name}: the HPA controller stops scaling it "
                "(AmbiguousSelector) or, on older clusters, the two overwrite each other's "
                "replica count",
                loc(dig_pos(h.body, "spec", "scaleTargetRef", "name"), h.ref),
                [ev(f"also targeted by HPA/{other.name}", other.at)],
            )


BAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend
spec:
  template:
    spec:
      containers:
        - name: backend
          image: backend:1
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: backend
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: backend}
  maxReplicas: 4
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: frontend
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: backend}
  maxReplicas: 4
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP216",
    name="hpa-conflict",
    severity=Severity.WARNING,
    summary="An HPA scales the wrong workload, or two HPAs scale the same one.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "Two cases. An HPA named after a workload that sits in the same directory (and "
            "has no HPA of its own) but whose `scaleTargetRef` names another workload: a "
            "copy-paste that kept the wrong target. And a workload that two differently "
            "named HPAs applied together (one kustomize build, or one file) target; HPAs in "
            "separate plain files may be alternatives and are not compared. Copies of one "
            "HPA are one HPA. The finding points at the `scaleTargetRef.name` to change."
        ),
        why=(
            "Since Kubernetes 1.26 the HPA controller refuses to scale pods that more than "
            "one HPA selects (`ScalingActive=False`, reason `AmbiguousSelector`); before, "
            "each HPA overwrote the other's replica count on every sync. Either way the "
            "workload does not scale under load, and the workload the second HPA was "
            "written for has no autoscaling at all: it is killed by overload or OOM at peak."
        ),
        example="HPA `frontend` copied from HPA `backend` still targets Deployment `backend`.",
        fix="Point each HPA's `scaleTargetRef.name` at its own workload, or delete the spare.",
        references=("https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/",),
    ),
    check=check,
    bad=(Example("yaml", BAD, "hpa.yaml"),),
    good=(Example("yaml", "name: frontend}".join(BAD.rsplit("name: backend}", 1)), "hpa.yaml"),),
)
