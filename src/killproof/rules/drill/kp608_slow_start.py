"""KP608 slow-start: the service took too long to become ready (or never did)."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Evidence, Finding, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill.common import drill_rule, secs, where


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding when startup exceeded its budget or never finished."""
    lim = result.limits
    if not result.ready and result.interrupted:
        return  # the drill was stopped while waiting: nothing says the service was slow
    if not result.ready:
        yield RULE.finding(
            f"never became ready: {result.startup_error}",
            where(result),
            [Evidence(result.exit.describe())] if result.exit else [],
            severity=Severity.ERROR,
        )
        return
    if result.startup_s is not None and result.startup_s > lim.max_startup_s:
        yield RULE.finding(
            f"ready after {secs(result.startup_s)}, more than the {lim.max_startup_s:g}s the "
            "probes allow",
            where(result),
        )


RULE = drill_rule(
    "KP608",
    name="slow-start",
    severity=Severity.WARNING,
    summary="Startup takes longer than the probes allow (or the service never gets ready).",
    docs=RuleDocs(
        what=(
            "The time from exec to the first passing readiness check, under the real memory "
            "limit, against `--max-startup` (from a manifest: the startup or readiness "
            "probe's `initialDelaySeconds + failureThreshold × periodSeconds`). A service "
            "that exits or never passes is reported as an error."
        ),
        why=(
            "A liveness probe that fires before startup ends kills the container in a loop; "
            "a slow start under a tight limit (GC working hard while warming caches) turns "
            "every scale-up and rollout into minutes without capacity."
        ),
        example="`--max-startup 1s`; the service warms a cache for 2 s before it listens.",
        fix=(
            "Add a startupProbe sized to the measured startup (with margin), make warm-up "
            "lazy, or raise the probe's budget.\n"
        ),
        references=(
            "https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/",
        ),
    ),
    check=check,
    bad="max-startup 1s\nstartup 2.1s\n",
    good="max-startup 1s\nstartup 0.05s\n",
)
