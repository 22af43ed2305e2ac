"""KP609 slo-missed-below-target-rate: the latency SLO broke at or below the rate it must hold."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Evidence, Finding, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill import judge
from killproof.rules.drill.common import drill_rule, where


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding when a step at or below the target rate missed the SLO."""
    # A step the service died or thrashed in is KP601's/KP610's (see judge.judged_steps).
    missed = judge.missed_below_target(result)
    if not missed:
        return
    cap = judge.drill_capacity(result)
    worst = min(missed, key=lambda v: v.rate_rps)
    held = f"{cap.held_rate_rps:g} req/s" if cap.held_rate_rps else "no step"
    yield RULE.finding(
        f"missed {cap.slo} at {worst.rate_rps:g} req/s, at or below the target of "
        f"{cap.target_rps:g} req/s ({worst.reason}); highest rate that held: {held}",
        where(result),
        [Evidence(f"step {v.index + 1} at {v.rate_rps:g} req/s: {v.reason}") for v in missed],
    )


RULE = drill_rule(
    "KP609",
    name="slo-missed-below-target-rate",
    severity=Severity.ERROR,
    summary="Latency SLO or error-free serving broke at or below the target rate.",
    docs=RuleDocs(
        what=(
            "Every step runs open-loop at a constant rate with latency measured from the "
            "intended send time (coordinated omission corrected). A step holds the SLO "
            "(`--slo p99<300ms`) when the percentile is under the bound, at most 1 % of "
            "requests failed, and at least 95 % of the rate was answered. Steps at or below "
            "`--target-rate` (default: the highest step) must hold."
        ),
        why=(
            "Under its memory limit a Go service spends CPU on GC as the heap nears the "
            "limit; latency collapses before anything is killed. A rate it cannot hold in "
            "the drill is a rate it cannot hold in production."
        ),
        example="`--slo p99<300ms --target-rate 400`: at 400 req/s p99 is 1200 ms.",
        fix=(
            "Raise the memory or CPU limit, set GOMEMLIMIT so GC paces itself, or scale out "
            "before this rate (HPA target below the highest rate that held).\n"
        ),
        references=("https://github.com/giltene/wrk2",),
    ),
    check=check,
    bad="slo p99<300ms\ntarget-rate 400\nstep 200/s 5s p99=20ms\nstep 400/s 5s p99=1200ms\n",
    good="slo p99<300ms\ntarget-rate 400\nstep 200/s 5s p99=20ms\nstep 400/s 5s p99=40ms\n",
)
