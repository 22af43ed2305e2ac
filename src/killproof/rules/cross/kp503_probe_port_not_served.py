"""KP503 probe-port-not-served: the probe knocks on a port nobody listens on."""

from __future__ import annotations

import re
from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts, LinkedLaunch
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc, program_ev
from killproof.sources.deploy.manifests import probe_port


def served_ports(linked: LinkedLaunch) -> set[int] | None:
    """Ports the program listens on in this launch (env overrides applied); None if unknown."""
    program = linked.program
    if program is None:
        return None
    ports = set(program.listen_ports)
    env = linked.env()
    for name in program.listen_port_envs:
        var = env.get(name)
        if var is not None and var.value is not None:
            match = re.search(r"(\d+)\s*$", var.value)
            if match:
                ports.add(int(match[1]))
        elif not program.listen_ports:
            return None  # read from an env var we do not see, with no literal default
    return ports or None


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Probe ports of linked containers against the ports the Go program listens on."""
    for linked in facts.launches:
        c, program = linked.launch.container, linked.program
        ports = served_ports(linked)
        if c is None or program is None or ports is None:
            continue
        for kind in ("liveness", "readiness", "startup"):
            probe = c.probe(kind)
            if probe is None or "exec" in probe:
                continue
            port, at = probe_port(c, probe)
            if port is None or port in ports:
                continue
            listening = ", ".join(str(p) for p in sorted(ports))
            yield RULE.finding(
                f"{kind}Probe targets port {port} but Go program {program.dir} listens on "
                f"{listening}: every probe is refused",
                loc(at, c.subject),
                [program_ev(program, f"listens on {listening}")],
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
      readinessProbe:
        tcpSocket:
          port: 8080
-- cmd/api/main.go --
package main

import (
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "9090"
	}
	http.ListenAndServe(":"+port, nil)
}
-- go.mod --
module example.com/shop

go 1.23
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP503",
    name="probe-port-not-served",
    severity=Severity.ERROR,
    summary="A probe's port that the Go code never listens on.",
    family="cross",
    docs=RuleDocs(
        what=(
            "httpGet/tcpSocket/grpc probe ports (named ports resolved through the container's "
            "`ports`) of a container linked to a Go program, against the ports it listens on "
            "(server addresses and the bare `net.Listen`/`tls.Listen` listeners gRPC servers "
            "are handed): literals, and env lookups resolved with the container's env or the "
            "code's default."
        ),
        why=(
            "A refused connection is a failed probe: liveness kills and restarts a healthy "
            "process in a loop, readiness keeps the pod out of rotation for good."
        ),
        example="Probe port 8080; the code listens on $PORT, default 9090, and PORT is unset.",
        fix="Probe the port the server listens on, or set the env var the code reads.",
        references=(
            "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deploy/pod.yaml"),),
    good=(
        Example(
            "yaml",
            BAD.replace(
                "      readinessProbe:",
                '      env:\n        - name: PORT\n          value: "8080"\n      readinessProbe:',
            ),
            "deploy/pod.yaml",
        ),
    ),
)
