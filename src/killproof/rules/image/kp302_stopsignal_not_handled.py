"""KP302 stopsignal-not-handled: the stop signal is one the Go code does not catch."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts, LaunchKind
from killproof.facts.go_program import GoProgram
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc, program_ev
from killproof.sources.deploy.yamltree import Pos

_FIELD = {
    LaunchKind.KUBERNETES: "lifecycle.stopSignal",
    LaunchKind.COMPOSE: "stop_signal",
    LaunchKind.SYSTEMD: "KillSignal=",
}
_NUMBERS = {"1": "SIGHUP", "2": "SIGINT", "3": "SIGQUIT", "9": "SIGKILL", "10": "SIGUSR1",
            "12": "SIGUSR2", "15": "SIGTERM", "28": "SIGWINCH"}  # fmt: skip


def signal_name(text: str) -> str:
    """``TERM``, ``SIGTERM``, ``15``, ``syscall.SIGTERM`` → ``SIGTERM``."""
    value = text.strip().strip("\"'").upper().rsplit(".", 1)[-1]
    if value in _NUMBERS:
        return _NUMBERS[value]
    return value if value.startswith("SIG") else f"SIG{value}"


def _judge(signal: str, program: GoProgram, at: Pos, subject: str, what: str) -> Iterator[Finding]:
    name = signal_name(signal)
    if not program.handled_signals or name in program.handled_signals or name == "SIGKILL":
        return  # no handler at all is the Go rules' finding, not a mismatch
    handled = ", ".join(sorted(program.handled_signals))
    yield RULE.finding(
        f"{what} is {name} but Go program {program.dir} only handles {handled}: the stop "
        "signal kills it at once (Go's default action) and its graceful shutdown never runs",
        loc(at, subject),
        [program_ev(program, f"signal.Notify({handled})")],
    )


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Dockerfile STOPSIGNAL, compose ``stop_signal``, ``KillSignal=``, ``lifecycle.stopSignal``."""
    for linked_df in facts.dockerfiles:
        df, program = linked_df.dockerfile, linked_df.program
        ins = df.effective("STOPSIGNAL")
        if ins is not None and program is not None:
            yield from _judge(
                ins.text, program, Pos(df.path, ins.line), f"{df.path} final stage", "STOPSIGNAL"
            )
    for linked in facts.launches:
        launch, program = linked.launch, linked.program
        if launch.stop_signal is not None and program is not None:
            what = _FIELD[launch.kind]
            yield from _judge(
                launch.stop_signal.text, program, launch.stop_signal.at, launch.subject, what
            )


BAD = """\
FROM gcr.io/distroless/static
COPY api /api
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/api"]
-- main.go --
package main

import (
	"context"
	"net/http"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	srv := &http.Server{Addr: ":8080"}
	go srv.ListenAndServe()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
}
-- go.mod --
module example.com/api

go 1.23
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP302",
    name="stopsignal-not-handled",
    severity=Severity.ERROR,
    summary=(
        "STOPSIGNAL / stop_signal / KillSignal= / lifecycle.stopSignal names a signal the Go "
        "code does not handle."
    ),
    family="image",
    docs=RuleDocs(
        what=(
            "The final image's STOPSIGNAL, a compose service's `stop_signal`, a unit's "
            "`KillSignal=` or a container's `lifecycle.stopSignal` (Kubernetes 1.33+), when the "
            "linked Go program handles some signals with "
            "`signal.Notify`/`NotifyContext` but not this one. (A program that handles none "
            "is the Go rules' finding.)"
        ),
        why=(
            "Go's default action for SIGQUIT, SIGINT, SIGTERM, SIGHUP… is to exit "
            "immediately (SIGQUIT also dumps every goroutine). If the runtime stops the "
            "container with a signal the code does not subscribe to, the graceful shutdown "
            "written for SIGTERM never runs: in-flight requests are cut."
        ),
        example="`STOPSIGNAL SIGQUIT` for a program that only handles SIGTERM.",
        fix=(
            "Drop the STOPSIGNAL override (SIGTERM is the default) or add the signal to "
            "signal.Notify."
        ),
        references=(
            "https://pkg.go.dev/os/signal#hdr-Default_behavior_of_signals_in_Go_programs",
            "https://docs.docker.com/reference/dockerfile/#stopsignal",
        ),
    ),
    check=check,
    bad=(Example("dockerfile", BAD, "Dockerfile"),),
    good=(
        Example(
            "dockerfile", BAD.replace("STOPSIGNAL SIGQUIT", "STOPSIGNAL SIGTERM"), "Dockerfile"
        ),
    ),
)
