"""KP605 requests-dropped-on-shutdown: clients saw failures after the stop signal."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Evidence, Finding, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill.common import CLEAN_SHUTDOWN, drill_rule, where
from killproof.rules.drill.shutdown_common import timeline_evidence


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding when requests failed after the stop signal."""
    t = result.shutdown
    if t is None:
        return
    # What is certain even when no request happened to be in flight: it died of the stop
    # signal itself, at once, with clients connected and readiness never failing first.
    died = (
        t.exit is not None
        and t.exit.signal == t.signal
        and t.within_grace
        and t.clients > 0
        and t.readiness_before_close is not True
    )
    if t.failed_after_signal == 0 and not died:
        return
    drained = (
        "" if t.readiness_before_close else "; readiness never failed before the listener closed"
    )
    if t.failed_after_signal:
        message = (
            f"{t.failed_after_signal} of {t.requests_after_signal} requests after {t.signal} "
            f"failed (reset, cut short, refused while still routed, timed out or 5xx){drained}"
        )
    else:
        message = (
            f"it died of {t.signal} itself with {t.clients} clients connected{drained}: every "
            "request in flight at the signal is dropped"
        )
    yield RULE.finding(
        message, where(result), [*timeline_evidence(t), *(Evidence(e) for e in t.failure_examples)]
    )


RULE = drill_rule(
    "KP605",
    name="requests-dropped-on-shutdown",
    severity=Severity.ERROR,
    summary="Requests failed after the stop signal: the service does not drain.",
    docs=RuleDocs(
        what=(
            "Client threads keep sending requests over keep-alive connections while the "
            "drill sends the stop signal. A request that ends after the signal is dropped "
            "when it is reset or cut short, times out, gets a 5xx, or is refused before the "
            "service told load balancers to stop routing (readiness failing first). Idle "
            "keep-alive connections closed by the server are retried once, as every HTTP "
            "client does. One request is held in flight across the signal (its last header "
            "line is sent just after it), so a service that dies at once drops a request "
            "every time; and a service that dies of the stop signal itself, with clients "
            "connected and readiness never failing first, is reported even when no drop was "
            "counted."
        ),
        why=(
            "Endpoints are removed asynchronously: for a few seconds after SIGTERM, traffic "
            "still arrives. A service that exits at once (Go's default on SIGTERM) or closes "
            "its listener before failing readiness turns every rollout into a burst of errors."
        ),
        example="SIGTERM; the process dies at once (killed by SIGTERM); 12 requests reset.",
        fix=(
            "On SIGTERM fail readiness, keep serving a few seconds (or a preStop sleep), then "
            "`srv.Shutdown(ctx)` with a deadline inside the grace period.\n"
        ),
        references=(
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination",
            "https://github.com/kubernetes/kubernetes/issues/67592",
        ),
    ),
    check=check,
    bad=(
        "step 100/s 5s\n"
        "shutdown SIGTERM exit-after=0.01s code=SIGTERM closed=0.01s ok=3 failed=12\n"
    ),
    good="step 100/s 5s\n" + CLEAN_SHUTDOWN,
)
