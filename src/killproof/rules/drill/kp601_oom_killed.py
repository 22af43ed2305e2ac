"""KP601 oom-killed: the service was killed for memory during the drill."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.drill import DrillResult, HeapProfile
from killproof.model import Evidence, Finding, Location, Severity
from killproof.rules.base import RuleDocs
from killproof.rules.drill.common import drill_rule, secs, subject
from killproof.sources.deploy.quantity import mib


def last_profile_before(result: DrillResult, t_s: float) -> HeapProfile | None:
    """The newest decoded heap profile taken before ``t_s`` (the one that explains a kill)."""
    before = [p for p in result.profiles if p.t_s <= t_s and p.top]
    return before[-1] if before else None


def check(result: DrillResult) -> Iterator[Finding]:
    """One finding when the service was killed for memory, at the allocation site."""
    oom = result.oom
    if oom is None:
        return
    by = {
        "cgroup-events": "the kernel's OOM killer (cgroup counters)",
        "kernel-log": "the kernel's OOM killer",
        "watchdog": "the drill's RSS watchdog (emulated limit)",
        "exit-status": "SIGKILL at the limit",
        "container-runtime": "the container runtime's OOM kill (State.OOMKilled)",
        "go-runtime": "the Go runtime itself (fatal error: runtime: out of memory)",
    }.get(oom.source, oom.source)
    message = (
        f"killed for memory {secs(oom.t_s)} after start by {by}: "
        f"{mib(oom.memory_bytes)} in use of a {mib(oom.limit_bytes)} limit"
    )
    evidence = [Evidence(e) for e in oom.evidence] + [Evidence(k) for k in result.kernel_events]
    profile = last_profile_before(result, oom.t_s)
    location = Location(subject=subject(result))
    if profile is not None:
        site = profile.top[0]
        message += (
            f"; the heap profile taken at {secs(profile.t_s)} ({profile.reason}) puts "
            f"{mib(site.inuse_bytes)} at {site.function}"
        )
        location = Location(path=site.file, line=site.line, subject=subject(result))
        evidence += [
            Evidence(f"{s.function}: {mib(s.inuse_bytes)} in use", s.file, s.line)
            for s in profile.top[:3]
        ]
    yield RULE.finding(message, location, evidence)


RULE = drill_rule(
    "KP601",
    name="oom-killed",
    severity=Severity.ERROR,
    summary="The service was OOM-killed under the drill's load at its real memory limit.",
    docs=RuleDocs(
        what=(
            "Whether the service died for memory during the drill: the cgroup's `oom_kill` "
            "counter (v2 `memory.events`, v1 `memory.oom_control`), the kernel log, or — "
            "without a cgroup — the RSS watchdog. The finding names the top allocation site "
            "of the last heap profile taken before the kill (the drill takes one as soon as "
            "memory crosses 80 % of the limit)."
        ),
        why=(
            "What dies in the drill dies in production with `signal: killed`, exit code 137 "
            "and `OOMKilled`: the same binary, the same limit, a load you chose. Without "
            "`GOMEMLIMIT` the Go GC does not know about the limit and lets the heap double "
            "past it."
        ),
        example=(
            "A drill at 64Mi: memory climbs 13 MiB/s at 200 req/s; the heap profile at 80 % "
            "puts 40 MiB at `main.remember`; the cgroup's `oom_kill` goes to 1 at 4.1 s."
        ),
        fix=(
            "Bound what the named allocation site keeps (an LRU, a TTL), set GOMEMLIMIT to "
            "about 90 % of the limit, then size the limit from the drill's peak.\n"
        ),
        references=(
            "https://go.dev/doc/gc-guide#Memory_limit",
            "https://docs.kernel.org/admin-guide/cgroup-v2.html#memory-interface-files",
        ),
    ),
    check=check,
    bad=(
        "limit 64Mi\nstep 200/s 10s p99=3ms\nmemory 1s 20Mi 2s 33Mi 3s 46Mi 4s 60Mi\n"
        "profile 3.5s memory-80pct main.remember main.go:21 41Mi\noom 4.1s cgroup-events\n"
        "exit 4.1s SIGKILL\n"
    ),
    good="limit 64Mi\nstep 200/s 10s p99=3ms\nmemory 1s 20Mi 2s 21Mi 3s 20Mi 4s 21Mi\n",
)
