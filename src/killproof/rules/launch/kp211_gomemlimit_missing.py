"""KP211 gomemlimit-missing: a Go container with a memory limit the GC does not know."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc, program_ev
from killproof.sources.deploy.quantity import format_bytes


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Linked Go launches with a memory limit and no GOMEMLIMIT anywhere."""
    for linked in facts.launches:
        launch, program = linked.launch, linked.program
        limit = launch.memory_limit
        if program is None or limit is None or program.sets_memory_limit:
            continue
        if "GOMEMLIMIT" in linked.env() or launch.env_incomplete:
            continue
        if facts.supervisor_of(linked):
            continue  # the limit is shared with other processes: 90 % of it bounds nothing
        yield RULE.finding(
            f"runs Go program {program.dir} under a "
            f"{format_bytes(int(limit.value))} "
            "memory limit without GOMEMLIMIT: the GC paces by GOGC alone, lets the heap double "
            "past live data and the kernel OOM-kills it before the GC reacts",
            loc(limit.at, launch.subject),
            [program_ev(program, "no debug.SetMemoryLimit/automemlimit")],
            remedy=(
                f"Set env GOMEMLIMIT={int(limit.value * 0.9) // (1 << 20)}MiB (90 % of the "
                f"{format_bytes(int(limit.value))} limit), or use automemlimit."
            ),
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
          image: registry.example.com/api:1.4
          resources:
            limits:
              memory: 512Mi
"""
GOOD = (
    BAD
    + """\
          env:
            - name: GOMEMLIMIT
              value: 460MiB
"""
)
GO_MAIN = """
-- cmd/api/main.go --
package main

import "net/http"

func main() {
	http.ListenAndServe(":8080", nil)
}
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP211",
    name="gomemlimit-missing",
    severity=Severity.WARNING,
    summary="Go container with a memory limit and no GOMEMLIMIT.",
    family="launch",
    docs=RuleDocs(
        what=(
            "Kubernetes containers, compose services and systemd units that run a Go program "
            "of this repo, have a memory limit, and set no GOMEMLIMIT: not in "
            "`env` (value or `resourceFieldRef`), not in the image's ENV, and not in code "
            "(`debug.SetMemoryLimit`, automemlimit). Skipped when `envFrom`/`env_file` could set "
            "it. A workload runs the program when its command names it (directly, through "
            "`sh -c`, tini, or an entrypoint script of the repo that execs it), or when it "
            "hands only arguments to an image built from it; a CronJob running "
            "`/bin/sh /scripts/x.sh` or another binary from the server's image does not. "
            "Not flagged when the image starts the program under a process supervisor "
            "(s6-overlay, supervisord, runit) beside other processes: they share the limit, "
            "so a GOMEMLIMIT derived from it would not bound the Go heap."
        ),
        why=(
            "With only GOGC=100 the Go heap may grow to twice the live heap before a GC. A "
            "spike in live data therefore overshoots the cgroup limit and the kernel kills "
            "the process, although a collection would have freed enough. GOMEMLIMIT makes the "
            "GC work harder as the limit nears."
        ),
        example="A Deployment with `limits.memory: 512Mi` and no GOMEMLIMIT.",
        fix="Set GOMEMLIMIT to ~90% of the limit (`460MiB` for 512Mi), or use automemlimit.",
        references=(
            "https://go.dev/doc/gc-guide#Memory_limit",
            "https://pkg.go.dev/runtime/debug#SetMemoryLimit",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD + GO_MAIN, "deploy/api.yaml"),),
    good=(Example("yaml", GOOD + GO_MAIN, "deploy/api.yaml"),),
)
