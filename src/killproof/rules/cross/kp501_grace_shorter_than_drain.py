"""KP501 grace-shorter-than-drain: SIGKILL arrives before the shutdown the code allows."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts, LaunchKind
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc, program_ev, seconds

_WHAT = {
    LaunchKind.KUBERNETES: ("terminationGracePeriodSeconds", 30),
    LaunchKind.COMPOSE: ("stop_grace_period", 10),
    LaunchKind.SYSTEMD: ("TimeoutStopSec=", 90),
}


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Grace period < preStop delay + drain sleep in code + Shutdown timeout."""
    for linked in facts.launches:
        launch, program = linked.launch, linked.program
        if program is None or program.shutdown_timeout_s is None or launch.grace is None:
            continue
        # Durations from code arrive as float products (25*time.Second): round away the noise.
        need = round(launch.prestop_s + program.extra_drain_s + program.shutdown_timeout_s, 3)
        if launch.grace.value >= need:
            continue
        field, default = _WHAT[launch.kind]
        grace = f"{field} {seconds(launch.grace.value)}" + (
            " (default)" if launch.grace_is_default else ""
        )
        parts = [f"Shutdown timeout {seconds(program.shutdown_timeout_s)}"]
        if launch.prestop_s:
            parts.insert(0, f"preStop {seconds(launch.prestop_s)}")
        if program.extra_drain_s:
            parts.insert(-1, f"drain sleep {seconds(program.extra_drain_s)}")
        del default
        yield RULE.finding(
            f"{grace} is shorter than {' + '.join(parts)} = {seconds(need)}: the process is "
            "SIGKILLed while it is still draining requests",
            loc(launch.grace.at, launch.subject),
            [program_ev(program, f"Shutdown deadline {seconds(program.shutdown_timeout_s)}")],
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
          command: ["/api"]
          lifecycle:
            preStop:
              exec:
                command: ["sleep", "10"]
-- cmd/api/main.go --
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	srv := &http.Server{Addr: ":8080"}
	go srv.ListenAndServe()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
-- go.mod --
module example.com/shop

go 1.23
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP501",
    name="grace-shorter-than-drain",
    severity=Severity.ERROR,
    summary="Grace period shorter than preStop delay + the Go Shutdown timeout.",
    family="cross",
    docs=RuleDocs(
        what=(
            "For each launch linked to a Go program whose Shutdown/GracefulStop deadline is "
            "known: `terminationGracePeriodSeconds` (default 30 s), compose "
            "`stop_grace_period` (default 10 s) or systemd `TimeoutStopSec=`/`TimeoutSec=` "
            "(default 90 s) is compared with preStop delay + sleeps on the signal path + the "
            "Shutdown timeout. Example manifests (`examples/`, `docs/`) are judged too — "
            "people copy them — and their findings are labelled as examples; copies of one "
            "workload (an example and its release bundle) count as one when pairing it with a "
            "repo's only Go main."
        ),
        why=(
            "The grace period runs from the start of preStop. When it ends the runtime sends "
            "SIGKILL, whatever the code is doing: requests the Shutdown deadline was meant to "
            "finish are cut, and deferred cleanup never runs."
        ),
        example="preStop sleeps 10 s, Shutdown waits 25 s, grace is the default 30 s.",
        fix=(
            "Raise the grace period above preStop + Shutdown timeout (+ a few seconds), or "
            "shorten the Shutdown deadline."
        ),
        references=(
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination",
            "https://docs.docker.com/reference/compose-file/services/#stop_grace_period",
            "https://www.freedesktop.org/software/systemd/man/latest/systemd.service.html#TimeoutStopSec=",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deploy/api.yaml"),),
    good=(
        Example(
            "yaml",
            BAD.replace(
                "    spec:\n      containers:",
                "    spec:\n      terminationGracePeriodSeconds: 45\n      containers:",
            ),
            "deploy/api.yaml",
        ),
    ),
)
