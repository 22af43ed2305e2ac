"""KP606 exit-code-nonzero-on-sigterm: the service stopped on SIGTERM, but not with status 0."""

from __future__ import annotations

import signal
from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Finding, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill.common import CLEAN_SHUTDOWN, drill_rule, where
from killproof.rules.drill.shutdown_common import timeline_evidence


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding when the service stopped in time but not with status 0."""
    t = result.shutdown
    if t is None or not t.within_grace or t.exit is None or t.exit.ok:
        return
    if t.exit.signal:
        code = 128 + _signum(t.exit.signal)
        how = f"was killed by {t.exit.signal} (exit code {code} in a container)"
    else:
        how = f"exited with status {t.exit.code}"
    yield RULE.finding(f"after {t.signal} it {how}", where(result), timeline_evidence(t))


def _signum(name: str) -> int:
    try:
        return int(signal.Signals[name])
    except KeyError:
        return 0


RULE = drill_rule(
    "KP606",
    name="exit-code-nonzero-on-sigterm",
    severity=Severity.WARNING,
    summary="The service ends with a nonzero status (or dies of the signal) when asked to stop.",
    docs=RuleDocs(
        what=(
            "How the process ended after the stop signal, when it ended inside the grace "
            "period: exit status 0 passes; any other status, or death by the signal itself "
            "(no handler), is reported."
        ),
        why=(
            "A Go program without a SIGTERM handler dies of the signal: exit code 143, "
            "reason `Error` in Kubernetes, restarts counted as failures, alerts on every "
            "rollout — and no drain. `log.Fatal(srv.ListenAndServe())` after Shutdown exits 1."
        ),
        example="SIGTERM → `killed by SIGTERM` (143): the default action, nothing handled it.",
        fix=(
            "Handle SIGTERM with `signal.NotifyContext`, call `srv.Shutdown(ctx)`, treat "
            "`http.ErrServerClosed` as success and return from main with status 0.\n"
        ),
        references=("https://pkg.go.dev/os/signal", "https://pkg.go.dev/net/http#ErrServerClosed"),
    ),
    check=check,
    bad="step 100/s 5s\nshutdown SIGTERM exit-after=0.01s code=SIGTERM closed=0.01s ok=3\n",
    good="step 100/s 5s\n" + CLEAN_SHUTDOWN,
)
