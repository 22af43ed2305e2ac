"""KP610 memory-thrash-at-limit: pinned at the limit, reclaiming, not killed."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult
from killproof.model import Evidence, Finding, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill.common import drill_rule, secs, where
from killproof.sources.deploy.quantity import mib


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding when the drill stopped the load because the service thrashed."""
    at = result.thrash_detected_at_s
    if at is None:
        return
    pinned = [s for s in result.samples if s.t_s <= at and s.cgroup_usage_bytes is not None]
    evidence = []
    if pinned:
        last = pinned[-1]
        evidence.append(
            Evidence(
                f"usage {mib(last.cgroup_usage_bytes)} of {mib(result.limits.memory_bytes)}, "
                f"failcnt {last.failcnt} at {secs(last.t_s)}"
            )
        )
    p99 = [s.p99_ms for s in result.steps]
    if p99:
        evidence.append(Evidence("p99 by step: " + ", ".join(f"{v:.0f}ms" for v in p99)))
    yield RULE.finding(
        f"pinned at the {mib(result.limits.memory_bytes)} limit with the kernel reclaiming "
        f"(failcnt climbing, no OOM kill) until the drill stopped the load at {secs(at)}",
        where(result),
        evidence,
    )


RULE = drill_rule(
    "KP610",
    name="memory-thrash-at-limit",
    severity=Severity.ERROR,
    summary="Pinned at the memory limit while the kernel reclaims: it crawls instead of dying.",
    docs=RuleDocs(
        what=(
            "During load the drill watches the cgroup and the per-second latency: usage at "
            "≥ 95 % of the limit with `failcnt` (v2: `memory.events` `max`) still rising, "
            "no OOM kill for `--thrash-after` seconds (default 10), and p99 latency up 5× or "
            "throughput halved against the seconds before, is thrash. The drill then stops "
            "the load instead of waiting for a kill that may not come."
        ),
        why=(
            "When a Go binary's anonymous memory fills its limit, the kernel evicts the "
            "binary's own file pages (its code) and reads them back on the next instruction: "
            "the service answers in seconds instead of milliseconds, probes time out, and "
            "the kubelet kills it for liveness — or it limps on. Seen with a Go binary in a "
            "64M cgroup v1 for tens of seconds."
        ),
        example="64Mi limit: usage 63.8 MiB for 12 s, failcnt 2 → 41000, p99 3 ms → 4200 ms.",
        fix=(
            "Set GOMEMLIMIT below the limit so the GC works before the kernel has to, bound "
            "the heap's growth, or raise the limit.\n"
        ),
        references=("https://docs.kernel.org/admin-guide/cgroup-v1/memory.html",),
    ),
    check=check,
    bad="limit 64Mi\nstep 200/s 20s p99=4200ms\nmemory 1s 63Mi 12s 63Mi\nthrash 12s\n",
    good="limit 64Mi\nstep 200/s 20s p99=3ms\nmemory 1s 30Mi 12s 31Mi\n",
)
