"""KP208 liveness-kills-slow-start: liveness gives up before the app can be ready."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc, seconds
from killproof.sources.deploy.manifests import probe_timing
from killproof.sources.deploy.yamltree import YMap


def liveness_window_s(probe: YMap) -> float:
    """Seconds from start until liveness kills a container that never answers."""
    return probe_timing(probe, "initialDelaySeconds") + probe_timing(
        probe, "periodSeconds"
    ) * probe_timing(probe, "failureThreshold")


def readiness_budget_s(probe: YMap) -> float:
    """Seconds the author expects start-up to take: readiness waits this long to look."""
    return probe_timing(probe, "initialDelaySeconds")


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Liveness with no startupProbe whose window is shorter than the start-up budget."""
    for c in facts.manifests.containers():
        live = c.probe("liveness")
        if live is None or c.probe("startup") is not None:
            continue
        ready = c.probe("readiness")
        budget = (
            readiness_budget_s(ready) if ready is not None else facts.thresholds.startup_seconds
        )
        if budget is None:
            continue
        window = liveness_window_s(live)
        if window >= budget:
            continue
        proof = (
            [
                ev(
                    f"readiness waits {seconds(budget)} before its first check",
                    c.spec.pos("readinessProbe"),
                )
            ]
            if ready
            else []
        )
        yield RULE.finding(
            f"container {c.name!r}: liveness kills it {seconds(window)} after start "
            f"(initialDelay + period × failureThreshold) but it may need up to {seconds(budget)} "
            "to become ready, and there is no startupProbe: a slow start becomes a restart loop",
            loc(c.spec.pos("livenessProbe"), c.subject),
            proof,
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
          livenessProbe:
            httpGet: {path: /livez, port: 8080}
            initialDelaySeconds: 5
            periodSeconds: 5
            failureThreshold: 2
          readinessProbe:
            httpGet: {path: /readyz, port: 8080}
            initialDelaySeconds: 30
"""
GOOD = (
    BAD
    + """\
          startupProbe:
            httpGet: {path: /livez, port: 8080}
            periodSeconds: 5
            failureThreshold: 30
"""
)

RULE: Rule[DeployFacts] = Rule(
    id="KP208",
    name="liveness-kills-slow-start",
    severity=Severity.ERROR,
    summary="Liveness can fire before the app can be ready (no startupProbe).",
    family="k8s",
    docs=RuleDocs(
        what=(
            "Containers with a `livenessProbe`, no `startupProbe`, and a liveness window "
            "(`initialDelaySeconds + periodSeconds × failureThreshold`, defaults 0/10/3) shorter "
            "than the readiness budget (the readiness probe's `initialDelaySeconds`: the "
            "author's own "
            "statement that the app needs that long before it can be ready), or than "
            "`thresholds.startup_seconds` when there is no readiness probe."
        ),
        why=(
            "Liveness starts counting at container start. If the app may legitimately take "
            "longer to come up than liveness tolerates (cache warm-up, migrations, a slow "
            "node), the kubelet kills it mid-start, again and again: CrashLoopBackOff on "
            "exactly the busy days when starts are slow."
        ),
        example="Liveness gives up after 15 s while readiness waits 30 s before its first check.",
        fix=(
            "Add a `startupProbe` (failureThreshold × periodSeconds ≥ worst start time), or "
            "widen the liveness window."
        ),
        references=(
            "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#define-startup-probes",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deployment.yaml"),),
    good=(Example("yaml", GOOD, "deployment.yaml"),),
)
