"""KP602 memory-leak: memory climbs at constant load, towards the limit."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Evidence, Finding, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill import judge
from killproof.rules.drill.common import drill_rule, secs, where
from killproof.sources.deploy.quantity import mib


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding for the steepest step whose memory grows like a leak."""
    trend = judge.memory_leak(result)
    if trend is None:
        return
    est = trend.estimate
    rate = result.steps[trend.step].rate_asked_rps if trend.step < len(result.steps) else 0
    ttl = est.seconds_to_limit
    message = (
        f"memory grew {mib(est.slope_per_s)}/s at a constant {rate:g} req/s "
        f"(step {trend.step + 1}, {trend.start_s:.1f}–{secs(trend.end_s)}, {est.samples} samples, "
        f"confidence {est.confidence:.3f})"
    )
    if ttl is not None:
        message += f"; at this rate it reaches the {mib(result.limits.memory_bytes)} limit "
        message += f"{secs(ttl)} after the step" if ttl >= 0.05 else "as the step ends"
    evidence = [
        Evidence(
            f"fitted {mib(est.start_value)} at {secs(trend.start_s)} → "
            f"{mib(est.end_value)} at {secs(trend.end_s)}"
        ),
    ]
    flag = result.leak_flag
    if flag is not None and flag.withdrawn_at_s is None:
        said = f"flagged online at {secs(flag.t_s)}"
        if flag.seconds_to_limit is not None:
            said += f" (projected to reach the limit {secs(flag.seconds_to_limit)} later)"
        if result.oom is not None and flag.t_s <= result.oom.t_s:
            said += f", {secs(result.oom.t_s - flag.t_s)} before the OOM kill"
        evidence.append(Evidence(said))
    elif result.oom is not None and trend.end_s <= result.oom.t_s:
        evidence.append(
            Evidence(f"detected {secs(result.oom.t_s - trend.end_s)} before the OOM kill")
        )
    slow = ttl is not None and ttl > judge.LEAK_HORIZON_S and result.oom is None
    yield RULE.finding(
        message, where(result), evidence, severity=Severity.WARNING if slow else None
    )


RULE = drill_rule(
    "KP602",
    name="memory-leak",
    severity=Severity.ERROR,
    summary="Memory climbs at constant load and would reach the limit.",
    docs=RuleDocs(
        what=(
            "Each load step runs at a constant rate. After a warm-up fifth, a Theil–Sen line "
            "(the median of pairwise slopes) with Mann–Kendall confidence is fitted to the "
            "memory the limit is enforced on (cgroup usage, else RSS). A step leaks when the "
            "trend is significant, grows by at least 4 MiB and 5 %, still climbs in the "
            "second half (a warm-up levels off) and, for a GC sawtooth, the troughs rise. "
            "The finding gives the projected time to the limit; beyond an hour it is a "
            "warning."
        ),
        why=(
            "At constant load a healthy Go service's memory levels off. Growth that does not "
            "level off ends in an OOM kill; the only question is when — the finding gives "
            "the projected time."
        ),
        example=(
            "At a steady 200 req/s memory goes 20 → 60 MiB in 3 s: 13 MiB/s, limit reached "
            "in about 0.3 s after the step."
        ),
        fix=(
            "Find what keeps growing in the heap profiles (`profiles` in the report): bound "
            "caches and maps, stop goroutines, close bodies.\n"
        ),
        references=(
            "https://ar5iv.labs.arxiv.org/html/2106.08938",
            "https://en.wikipedia.org/wiki/Theil%E2%80%93Sen_estimator",
        ),
    ),
    check=check,
    bad="limit 64Mi\nstep 200/s 5s\nmemory 0s 8Mi 1s 20Mi 2s 33Mi 3s 46Mi 4s 58Mi 5s 60Mi\n",
    good="limit 64Mi\nstep 200/s 5s\nmemory 0s 20Mi 1s 21Mi 2s 20Mi 3s 22Mi 4s 21Mi 5s 21Mi\n",
)
