"""KP604 shutdown-overran-grace: the service reacted to the stop signal but did not exit in time."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Finding, Location, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill.common import CLEAN_SHUTDOWN, drill_rule, subject
from killproof.rules.drill.shutdown_common import hang_evidence, timeline_evidence


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding when shutdown began but outlived the grace period."""
    t = result.shutdown
    if t is None or t.within_grace or not t.reacted:
        return
    hang = hang_evidence(t)
    first = hang[0] if hang and hang[0].path else None
    location = Location(
        path=first.path if first else "", line=first.line if first else 0, subject=subject(result)
    )
    killed = "SIGQUIT then SIGKILL" if t.sigkill_sent else "SIGQUIT"
    yield RULE.finding(
        f"still running {t.grace_s:g}s after {t.signal}: it began shutting down but did not "
        f"finish inside the grace period, so it got {killed} (in Kubernetes: SIGKILL, exit 137)",
        location,
        [*timeline_evidence(t), *hang],
    )


RULE = drill_rule(
    "KP604",
    name="shutdown-overran-grace",
    severity=Severity.ERROR,
    summary="Shutdown started but did not finish within the grace period.",
    docs=RuleDocs(
        what=(
            "Under load the drill sends the stop signal and waits the grace period "
            "(`terminationGracePeriodSeconds`, default 30 s). A service that reacted (readiness "
            "failed or the listener closed) but is still running then gets SIGQUIT — the Go "
            "runtime prints every goroutine's stack — and SIGKILL. The finding points at the "
            "frame in package main where the dump shows it waiting."
        ),
        why=(
            "The kubelet SIGKILLs a container that outlives its grace period: in-flight work "
            "is lost and the pod shows exit code 137, which looks like an OOM kill."
        ),
        example=(
            "SIGTERM; readiness fails at +0.01 s; listener closed at +0.2 s; at +2 s "
            "(grace 2 s) still running; SIGQUIT dump: `main.flushQueue` in `time.Sleep`."
        ),
        fix=(
            "Give every step after SIGTERM a deadline that fits inside the grace period "
            "(`srv.Shutdown(ctx)` with a timeout, bounded flushes), or raise the grace period.\n"
        ),
        references=(
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination",
            "https://pkg.go.dev/net/http#Server.Shutdown",
        ),
    ),
    check=check,
    bad=(
        "grace 2s\nstep 100/s 5s\n"
        "shutdown SIGTERM exit-after=none ready-failed=0.01s closed=0.2s ok=20\n"
        "dump main.flushQueue /src/main.go:22\n"
    ),
    good="grace 2s\nstep 100/s 5s\n" + CLEAN_SHUTDOWN,
)
