"""KP205 liveness-probe-missing: a serving container nobody restarts when it hangs."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Long-running serving app containers without a livenessProbe."""
    for c in facts.manifests.containers():
        if facts.manifests.serving(c) and c.probe("liveness") is None:
            yield RULE.finding(
                f"serving container {c.name!r} has no livenessProbe: a deadlocked process keeps "
                "its pod and its share of traffic until someone notices",
                loc(c.at, c.subject),
            )


BAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: api
          image: api:1
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet: {path: /readyz, port: 8080}
"""
GOOD = BAD + "          livenessProbe:\n            httpGet: {path: /livez, port: 8080}\n"

RULE: Rule[DeployFacts] = Rule(
    id="KP205",
    name="liveness-probe-missing",
    severity=Severity.INFO,
    summary="A long-running serving container has no livenessProbe.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "App containers of long-running workloads (not Jobs, CronJobs or run-once Pods) "
            "that serve traffic (declare a port, or are the only container behind a Service) "
            "and have no `livenessProbe`. Init containers, sidecars and batch work are never "
            "flagged. "
            "Load generators (`loadgen`, `load-generator`, locust, k6 … by workload, "
            "container or image name) send traffic and serve none; a bare Pod serves only "
            "when a Service selects it."
        ),
        why=(
            "Without liveness, a wedged process (deadlock, exhausted pool) is never restarted. "
            "This is informational: a liveness probe is also a way to get killed, so it must "
            "test only the process itself (see KP207, KP208)."
        ),
        example="A Deployment with a readinessProbe and no livenessProbe.",
        fix=(
            "Add a cheap `livenessProbe` on a handler that checks only the process (not its "
            "dependencies)."
        ),
        references=(
            "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deployment.yaml"),),
    good=(Example("yaml", GOOD, "deployment.yaml"),),
)
