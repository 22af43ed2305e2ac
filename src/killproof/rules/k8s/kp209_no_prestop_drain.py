"""KP209 no-prestop-drain: SIGTERM arrives while endpoints still send traffic."""

from __future__ import annotations

import re
from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc, program_ev
from killproof.sources.deploy.manifests import K8sObject, has_prestop
from killproof.sources.deploy.yamltree import dig, iter_maps

# Port-name words that say a Service port is for scrapes, probes or profiles, not clients.
_SCRAPE_WORDS = frozenset({
    "metrics", "telemetry", "prometheus", "prom", "monitoring", "healthz", "health", "probe",
    "probes", "pprof", "debug",
})  # fmt: skip


def _words(name: object) -> set[str]:
    return set(re.split(r"[-_.]", str(name).lower()))


def _scrape_only(service: K8sObject) -> bool:
    """True when ``service`` is named for scrapes (``api-metrics``) and every port of it
    is too (``metrics``, ``http-metrics``, ``healthz``): Prometheus retries a failed
    scrape on its next interval, and no client connection races the endpoint removal.
    Both are needed: some projects name the app's own port ``http-metrics`` so that it is
    scraped, on the Service clients use. A port with no name, or one named
    ``metricsservice`` (a gRPC API for an autoscaler), carries requests."""
    ports = list(iter_maps(dig(service.body, "spec", "ports")))
    return (
        bool(ports)
        and bool(_SCRAPE_WORDS & _words(service.name))
        and all(_SCRAPE_WORDS & _words(p.get("name", "")) for p in ports)
    )


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Serving containers behind a Service with no preStop hook and no drain sleep in code.
    A bare Pod is skipped: no controller starts a replacement, so there is no endpoint
    for the traffic to move to and a delay only postpones the same failures."""
    for c in facts.manifests.containers():
        if c.workload.kind == "Pod" or not facts.manifests.serving(c) or has_prestop(c):
            continue
        services = [s for s in facts.manifests.services_for(c.workload) if not _scrape_only(s)]
        if not services:
            continue
        linked = facts.launch_for(c)
        if linked is not None and linked.program is not None and linked.program.extra_drain_s > 0:
            continue  # the Go code itself waits before Shutdown
        proof = [ev(f"selected by Service/{services[0].name}", services[0].at)]
        if linked is not None and linked.program is not None:
            proof.append(program_ev(linked.program, "no sleep before Shutdown"))
        yield RULE.finding(
            f"container {c.name!r} is behind Service/{services[0].name} but has no preStop "
            "delay: SIGTERM and endpoint removal race, so for a few seconds new connections "
            "hit a server that is already closing (502/connection refused on every rollout)",
            loc(c.at, c.subject),
            proof,
        )


BAD = """\
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: api:1
          ports: [{containerPort: 8080}]
"""
GOOD = (
    BAD
    + """\
          lifecycle:
            preStop:
              sleep: {seconds: 5}
"""
)

RULE: Rule[DeployFacts] = Rule(
    id="KP209",
    name="no-prestop-drain",
    severity=Severity.WARNING,
    summary="A serving container behind a Service has no preStop delay (endpoint-removal race).",
    family="k8s",
    docs=RuleDocs(
        what=(
            "Serving app containers of a workload that a Service selects, with no "
            "`lifecycle.preStop` hook (sleep action, `exec: sleep N`, or httpGet), unless the "
            "linked Go program itself sleeps on the signal path before calling Shutdown. A "
            "Service selects workloads of its own kustomize build, or, for plain files, of "
            "the nearest directory of its own top-level tree: an example under `examples/` "
            "with the same labels is not selected by a Service under `deploy/`. A Service named "
            "for scrapes (`api-metrics`) whose every port is too (`metrics`, `http-metrics`, "
            "`healthz`) carries no client traffic and does not count. Bare Pods "
            "(no controller starts a replacement to take the traffic) and load generators "
            "are not flagged."
        ),
        why=(
            "On deletion the kubelet sends SIGTERM while, in parallel, the endpoint controller "
            "and every kube-proxy/ingress remove the pod. A Go server that calls Shutdown at "
            "once closes its listener before the load balancers know: requests in that window "
            "are refused. A short preStop sleep lets removal win the race."
        ),
        example="A Deployment behind a Service with no lifecycle hook.",
        fix=(
            "Add `lifecycle.preStop.sleep.seconds: 5` (or `exec: [sleep, '5']`) and keep "
            "terminationGracePeriodSeconds above sleep + shutdown."
        ),
        references=(
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination",
            "https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "app.yaml"),),
    good=(Example("yaml", GOOD, "app.yaml"),),
)
