"""Evidence shared by the shutdown rules: the timeline and where a SIGQUIT dump hung."""

from __future__ import annotations

from killproof.facts.drill import ShutdownTimeline
from killproof.model import Evidence
from killproof.sources.goroutines import parse_goroutine_traceback
from killproof.sources.pprof import ProfileError


def _at(value: float | None) -> str:
    return "never" if value is None else f"+{value:.2f} s"


def timeline_evidence(t: ShutdownTimeline) -> list[Evidence]:
    """The timeline as evidence lines (times after the signal)."""
    exit_text = t.exit.describe() if t.exit else "still running"
    return [
        Evidence(
            f"{t.signal} at +0s; readiness failed {_at(t.readiness_failed_after_s)}; "
            f"listener closed {_at(t.listener_closed_after_s)}; exited "
            f"{_at(t.exit_after_s)} ({exit_text}); grace {t.grace_s:g} s"
        )
    ]


def hang_evidence(t: ShutdownTimeline, limit: int = 3) -> list[Evidence]:
    """Stacks of the SIGQUIT dump that run program code (``main.`` or not the stdlib)."""
    if not t.goroutine_dump:
        return []
    dump = parse_goroutine_traceback(t.goroutine_dump)
    if isinstance(dump, ProfileError):
        return [Evidence(f"SIGQUIT dump unreadable: {dump.reason}")]
    out: list[Evidence] = []
    for stack in dump.stacks:
        own = [f for f in stack.frames if f.function.startswith("main.")]
        if not own:
            continue
        top = own[0]
        chain = " ← ".join(f.function for f in stack.frames[:4])
        out.append(Evidence(f"{stack.count} × [{stack.state}] {chain}", top.file, top.line))
        if len(out) >= limit:
            break
    return out or [Evidence(f"SIGQUIT dump: {dump.total} goroutines, none in package main")]
