"""KP607 sigterm-ignored: nothing happened after the stop signal until SIGKILL."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Finding, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill.common import CLEAN_SHUTDOWN, drill_rule, where
from killproof.rules.drill.shutdown_common import hang_evidence, timeline_evidence


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding when nothing changed within the grace period."""
    t = result.shutdown
    if t is None or t.within_grace or t.reacted:
        return
    yield RULE.finding(
        f"{t.signal} was ignored: for the whole {t.grace_s:g}s grace period readiness kept "
        "passing, the listener stayed open and the process kept running; it took SIGKILL",
        where(result),
        [*timeline_evidence(t), *hang_evidence(t)],
    )


RULE = drill_rule(
    "KP607",
    name="sigterm-ignored",
    severity=Severity.ERROR,
    summary="The stop signal had no visible effect; only SIGKILL stopped the service.",
    docs=RuleDocs(
        what=(
            "After the stop signal the drill watches readiness, the listener and the "
            "process. If none of them changes within the grace period the signal was "
            "ignored (blocked, `signal.Ignore`d, or swallowed by a shell PID 1)."
        ),
        why=(
            "Every rollout then waits the full grace period and ends in SIGKILL (exit 137) "
            "with requests cut mid-flight. A `/bin/sh -c` entrypoint as PID 1 is the usual "
            "cause: it does not forward SIGTERM to the Go binary."
        ),
        example="SIGTERM at +0 s; at +2 s (grace 2 s) readiness passes, port open, still running.",
        fix=(
            "Use the exec form of ENTRYPOINT (or `exec` in the script) and handle SIGTERM in "
            "Go with `signal.NotifyContext`.\n"
        ),
        references=(
            "https://docs.docker.com/reference/dockerfile/#entrypoint",
            "https://pkg.go.dev/os/signal",
        ),
    ),
    check=check,
    bad="grace 2s\nstep 100/s 5s\nshutdown SIGTERM exit-after=none ok=80\n",
    good="grace 2s\nstep 100/s 5s\n" + CLEAN_SHUTDOWN,
)
