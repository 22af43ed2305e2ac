"""KP504 gomaxprocs-vs-cpu-limit: GOMAXPROCS = node cores under a small CPU quota."""

from __future__ import annotations

import re
from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc, program_ev


def go_minor(version: str | None) -> tuple[int, int] | None:
    """``1.24.3`` → (1, 24); None when unknown."""
    match = re.match(r"^(\d+)\.(\d+)", version or "")
    return (int(match[1]), int(match[2])) if match else None


def check(facts: DeployFacts) -> Iterator[Finding]:
    """CPU-limited launches of Go < 1.25 programs that do not size GOMAXPROCS."""
    for linked in facts.launches:
        launch, program = linked.launch, linked.program
        if program is None or launch.cpu_limit is None or program.sets_gomaxprocs:
            continue
        version = go_minor(program.go_version)
        if version is None or version >= (1, 25) or "GOMAXPROCS" in linked.env():
            continue
        yield RULE.finding(
            f"CPU is limited to {launch.cpu_limit.value:g} cores but Go "
            f"{program.go_version} sets GOMAXPROCS to the node's core count: the quota is spent "
            "in a burst, the process is throttled for the rest of each period, and probes time out",
            loc(launch.cpu_limit.at, launch.subject),
            [program_ev(program, f"go {program.go_version}, no automaxprocs")],
        )


BAD = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
spec:
  containers:
    - name: api
      image: api:1
      command: ["/api"]
      resources:
        limits:
          cpu: 500m
-- cmd/api/main.go --
package main

import "net/http"

func main() {
	http.ListenAndServe(":8080", nil)
}
-- go.mod --
module example.com/shop

go 1.23
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP504",
    name="gomaxprocs-vs-cpu-limit",
    severity=Severity.WARNING,
    summary="CPU limit set, go.mod < 1.25, and no automaxprocs/GOMAXPROCS.",
    family="cross",
    docs=RuleDocs(
        what=(
            "Launches with a CPU limit (`limits.cpu`, compose `cpus`, systemd `CPUQuota=`) "
            "running a Go program whose go.mod says `go` < 1.25, that neither imports "
            "automaxprocs / calls `runtime.GOMAXPROCS` nor gets GOMAXPROCS from the environment."
        ),
        why=(
            "Before Go 1.25 the runtime ignores the cgroup CPU quota: on a 64-core node it "
            "runs 64 Ps against a 0.5-core quota, burns the quota in the first milliseconds of "
            "each 100 ms period and is throttled for the rest. Latency, GC assist and probe "
            "timeouts follow, and liveness kills the pod."
        ),
        example="`limits.cpu: 500m` with `go 1.23` and no automaxprocs.",
        fix=(
            "Upgrade to Go ≥ 1.25, import go.uber.org/automaxprocs, or set GOMAXPROCS from the "
            "limit."
        ),
        references=(
            "https://go.dev/doc/go1.25#container-aware-gomaxprocs",
            "https://github.com/uber-go/automaxprocs",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deploy/pod.yaml"),),
    good=(Example("yaml", BAD.replace("go 1.23", "go 1.25"), "deploy/pod.yaml"),),
)
