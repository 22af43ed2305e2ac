"""KP212 gomemlimit-at-or-above-limit: no room left for memory outside the Go heap."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc
from killproof.sources.deploy.quantity import QuantityError, format_bytes, gomemlimit_bytes


def check(facts: DeployFacts) -> Iterator[Finding]:
    """GOMEMLIMIT ≥ the threshold fraction (95 %) of the memory limit, or unparseable."""
    fraction = facts.thresholds.gomemlimit_max_fraction
    for linked in facts.launches:
        launch, limit = linked.launch, linked.launch.memory_limit
        var = linked.env().get("GOMEMLIMIT")
        if var is None or limit is None:
            continue
        proof = [ev(f"memory limit {limit.text or format_bytes(int(limit.value))}", limit.at)]
        if var.field_ref:
            if var.field_ref != "limits.memory":
                continue
            value = limit.value / var.divisor
            if var.divisor != 1:
                yield RULE.finding(
                    f"GOMEMLIMIT comes from limits.memory with a divisor, i.e. {int(value)} "
                    "bytes: the GC runs flat out from the first allocation",
                    loc(var.at, launch.subject),
                    proof,
                    severity=Severity.ERROR,
                )
                continue
        elif var.value is not None:
            try:
                parsed = gomemlimit_bytes(var.value)
            except QuantityError as exc:
                yield RULE.finding(
                    f"GOMEMLIMIT={var.value!r} is not valid Go syntax: the runtime refuses to "
                    f"start ({exc})",
                    loc(var.at, launch.subject),
                    severity=Severity.ERROR,
                )
                continue
            if parsed is None:
                continue
            value = float(parsed)
        else:
            continue
        if value >= fraction * limit.value:
            yield RULE.finding(
                f"GOMEMLIMIT is {value / limit.value:.0%} of the memory limit: goroutine stacks, "
                "runtime metadata, cgo and page cache live outside it, so the cgroup fills "
                "before the GC pushes back",
                loc(var.at, launch.subject),
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
          resources:
            limits:
              memory: 512Mi
          env:
            - name: GOMEMLIMIT
              valueFrom:
                resourceFieldRef:
                  resource: limits.memory
"""
GOOD = """\
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
          resources:
            limits:
              memory: 512Mi
          env:
            - name: GOMEMLIMIT
              value: 460MiB
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP212",
    name="gomemlimit-at-or-above-limit",
    severity=Severity.WARNING,
    summary="GOMEMLIMIT ≥ 95% of the memory limit (no room for non-heap memory).",
    family="launch",
    docs=RuleDocs(
        what=(
            "Launches whose GOMEMLIMIT (env value, image ENV, or `resourceFieldRef: "
            "limits.memory`, which is 100%) is at least `thresholds.gomemlimit_max_fraction` "
            "(0.95) of the memory limit. Also reports GOMEMLIMIT values Go cannot parse "
            "(`512Mi`: Go wants `512MiB`), on which the runtime exits at start."
        ),
        why=(
            "GOMEMLIMIT bounds what the Go runtime manages, not the whole process: stacks, "
            "cgo allocations, the binary's mappings and kernel-accounted page cache count "
            "against the cgroup too. At 100% the cgroup hits its limit while the GC still "
            "thinks it has room, and the kernel OOM killer wins."
        ),
        example="GOMEMLIMIT from `resourceFieldRef: limits.memory`.",
        fix="Set GOMEMLIMIT to 85–90% of the limit (e.g. `460MiB` for 512Mi).",
        references=("https://go.dev/doc/gc-guide#Suggested_uses",),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deployment.yaml"),),
    good=(Example("yaml", GOOD, "deployment.yaml"),),
)
