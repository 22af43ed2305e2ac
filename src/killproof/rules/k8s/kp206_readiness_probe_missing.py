"""KP206 readiness-probe-missing: traffic arrives before the server is listening."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Long-running serving app containers a Service routes to, without a readinessProbe."""
    for c in facts.manifests.containers():
        if facts.manifests.routed(c) and c.probe("readiness") is None:
            yield RULE.finding(
                f"serving container {c.name!r} has no readinessProbe: it gets traffic as soon "
                "as it starts and keeps getting it while it shuts down",
                loc(c.at, c.subject),
            )


BAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: api:1
          ports:
            - containerPort: 8080
          livenessProbe:
            httpGet: {path: /livez, port: 8080}
"""
SERVICE = """\
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports:
    - port: 80
      targetPort: 8080
"""
GOOD = BAD + "          readinessProbe:\n            httpGet: {path: /readyz, port: 8080}\n"

RULE: Rule[DeployFacts] = Rule(
    id="KP206",
    name="readiness-probe-missing",
    severity=Severity.WARNING,
    summary="A long-running serving container has no readinessProbe.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "App containers of long-running workloads that serve traffic (declare a port, or "
            "are the only container behind a Service) and that a Service of their own tree "
            "selects, with no `readinessProbe`: readiness only gates a Service's endpoints, so "
            "a pod nothing selects (an exporter scraped by pod annotation) is left alone. Jobs, "
            "CronJobs, init containers and sidecars are never flagged. "
            "Load generators (`loadgen`, `load-generator`, locust, k6 … by workload, "
            "container or image name) send traffic and serve none; a bare Pod serves only "
            "when a Service selects it."
        ),
        why=(
            "Without readiness the pod is an endpoint the moment the container starts, before "
            "caches are warm or the listener is up, and during rollouts the old pods are "
            "killed while the new ones still refuse connections."
        ),
        example="A Deployment with only a livenessProbe.",
        fix="Add a `readinessProbe` on a handler that reports whether this instance can serve now.",
        references=(
            "https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD + SERVICE, "deployment.yaml"),),
    good=(
        Example("yaml", GOOD + SERVICE, "deployment.yaml"),
        Example("yaml", BAD, "exporter.yaml"),
    ),
)
