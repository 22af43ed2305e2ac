"""KP207 liveness-same-as-readiness: one slow dependency restarts every replica."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc
from killproof.sources.deploy.manifests import PROBE_DEFAULTS, probe_handler, probe_timing


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Same handler and same thresholds for liveness and readiness."""
    for c in facts.manifests.containers():
        live, ready = c.probe("liveness"), c.probe("readiness")
        if live is None or ready is None:
            continue
        if probe_handler(live) != probe_handler(ready) or probe_handler(live) == ("none",):
            continue
        if any(
            probe_timing(live, k) != probe_timing(ready, k)
            for k in PROBE_DEFAULTS
            if k != "successThreshold"
        ):
            continue
        yield RULE.finding(
            f"container {c.name!r} uses the same check with the same thresholds for liveness "
            "and readiness: the moment it is unready it is also killed, so overload or a slow "
            "dependency restarts every replica instead of shedding load",
            loc(c.spec.pos("livenessProbe"), c.subject),
            [ev("readinessProbe: same handler and thresholds", c.spec.pos("readinessProbe"))],
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
            httpGet: {path: /healthz, port: 8080}
          readinessProbe:
            httpGet: {path: /healthz, port: 8080}
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP207",
    name="liveness-same-as-readiness",
    severity=Severity.WARNING,
    summary="Liveness and readiness probes are identical (same handler, same thresholds).",
    family="k8s",
    docs=RuleDocs(
        what=(
            "Containers whose `livenessProbe` and `readinessProbe` run the same handler "
            "(httpGet path/port/scheme, tcpSocket port, grpc port/service or exec command) "
            "with the same timing (initialDelaySeconds, periodSeconds, timeoutSeconds, "
            "failureThreshold, Kubernetes defaults filled in). Different thresholds on the "
            "same endpoint are a deliberate design and are not flagged."
        ),
        why=(
            "Readiness should fail first and take the pod out of rotation; liveness should "
            "only fail when restarting helps. When both fire together, a load spike makes "
            "every replica unready *and* killed at once, and the restarts amplify the outage."
        ),
        example="Both probes `GET /healthz` on 8080 with default timing.",
        fix=(
            "Give liveness its own cheap endpoint, or at least a larger failureThreshold than "
            "readiness."
        ),
        references=("https://github.com/zegl/kube-score/blob/master/README_PROBES.md",),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deployment.yaml"),),
    good=(
        Example(
            "yaml",
            BAD.replace(
                "{path: /healthz, port: 8080}\n          readiness",
                "{path: /livez, port: 8080}\n          readiness",
            ),
            "deployment.yaml",
        ),
    ),
)
