"""What the drill rules (KP6xx) share: the subject of a finding and number formatting."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import PurePath

from killproof.facts.drill import DrillResult
from killproof.model import Finding, Location, Severity
from killproof.rules.base import Example, Rule, RuleDocs

CLEAN_SHUTDOWN = (
    "shutdown SIGTERM exit-after=0.5s code=0 ready-failed=0.01s closed=0.3s ok=40 refused=5\n"
)
"""A scenario line: readiness fails, the listener closes, exit 0 inside the grace period."""


def subject(result: DrillResult) -> str:
    """``drill of orders`` — the command's program name."""
    name = PurePath(result.command[0]).name if result.command else "service"
    return f"drill of {name}"


def where(result: DrillResult) -> Location:
    """A location naming the drilled program (drill findings have no file position)."""
    return Location(subject=subject(result))


def secs(t: float | None) -> str:
    """Seconds as a person reads them: ``0.3 s``, ``8.3 s``, ``95 s``, ``12.5 min``, ``2.1 h``."""
    if t is None:
        return "?"
    if t < 0.095:
        return f"{t:.2f} s"
    if t < 99.5:
        return f"{t:.1f} s"
    if t < 120:
        return f"{t:.0f} s"
    if t < 7200:
        return f"{t / 60:.1f} min"
    return f"{t / 3600:.1f} h"


def drill_rule(
    rule_id: str,
    *,
    name: str,
    severity: Severity,
    summary: str,
    docs: RuleDocs,
    check: Callable[[DrillResult], Iterable[Finding]],
    bad: str,
    good: str,
) -> Rule[DrillResult]:
    """A KP6xx rule; ``bad``/``good`` are drill scenarios (:mod:`killproof.drill.scenario`).

    The bad scenario is appended to the Example section, so ``killproof explain`` shows
    the same text the test suite runs.
    """
    example = (
        f"{docs.example}\n\nThe drill, as a scenario the test suite runs:\n\n```text\n{bad}```"
    )
    return Rule(
        id=rule_id,
        name=name,
        severity=severity,
        summary=summary,
        docs=replace(docs, example=example),
        check=check,
        bad=(Example("text", bad, "drill.txt"),),
        good=(Example("text", good, "drill.txt"),),
        family="drill",
    )
