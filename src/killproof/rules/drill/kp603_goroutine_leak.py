"""KP603 goroutine-leak: goroutines climb at constant load."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Evidence, Finding, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill import judge
from killproof.rules.drill.common import drill_rule, secs, where


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding for the steepest step whose goroutine count grows like a leak."""
    trend = judge.goroutine_leak(result)
    if trend is None:
        return
    est = trend.estimate
    rate = result.steps[trend.step].rate_asked_rps if trend.step < len(result.steps) else 0
    yield RULE.finding(
        f"goroutines grew {est.slope_per_s:.0f}/s at a constant {rate:g} req/s "
        f"(step {trend.step + 1}): {est.start_value:.0f} → {est.end_value:.0f}",
        where(result),
        [
            Evidence(
                f"go_goroutines fitted {est.start_value:.0f} at {secs(trend.start_s)}, "
                f"{est.end_value:.0f} at {secs(trend.end_s)} ({est.samples} samples)"
            )
        ],
    )


RULE = drill_rule(
    "KP603",
    name="goroutine-leak",
    severity=Severity.ERROR,
    summary="Goroutines climb at constant load (each one keeps its stack and what it references).",
    docs=RuleDocs(
        what=(
            "The goroutine count (`go_goroutines` from `/metrics`, else the total of "
            "`/debug/pprof/goroutine?debug=1`) sampled once a second during each constant-rate "
            "step: a significant Theil–Sen slope that adds at least 20 goroutines and 10 % "
            "of the starting count, still climbing in the second half, is a leak."
        ),
        why=(
            "A goroutine blocked forever holds at least a 2–8 KiB stack plus everything it "
            "references. At hundreds of requests per second that is an OOM kill in hours, "
            "and the heap profile does not show it as one allocation site."
        ),
        example="At 200 req/s goroutines go 12 → 1012 in 5 s: one leaked goroutine per request.",
        fix=(
            "Give every goroutine a way to end: a context, a closed channel, a timeout; "
            "test with go.uber.org/goleak.\n"
        ),
        references=("https://github.com/uber-go/goleak",),
    ),
    check=check,
    bad="step 200/s 5s\ngoroutines 0s 12 1s 212 2s 412 3s 612 4s 812 5s 1012\n",
    good="step 200/s 5s\ngoroutines 0s 70 1s 72 2s 71 3s 70 4s 72 5s 71\n",
)
