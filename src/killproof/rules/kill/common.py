"""The shape every kill verdict rule (KP7xx) shares: one cause, one finding per event."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence, Finding, Location, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.kill.text import Verdict


def verdict_rule(
    rule_id: str,
    name: str,
    cause: Cause,
    summary: str,
    docs: RuleDocs,
    bad: tuple[Example, ...],
    good: tuple[Example, ...],
    verdict: Callable[[KillEvent], Verdict],
) -> Rule[KillEvent]:
    """A rule that reports each event of ``cause``: an error for a death, a warning for an
    attempt that did not prove one. ``verdict`` is the rule's own wording of the event: the
    finding's message is its explanation and the remedy its first next step."""

    def check(event: KillEvent) -> Iterator[Finding]:
        if event.cause is not cause:
            return
        said = verdict(event)
        # Point at the line that names the victim, else at the first line of evidence.
        named = sorted(
            (e for e in event.evidence if event.pid is not None and str(event.pid) in e.text),
            key=lambda e: "Killed process" not in e.text,
        )
        first = (named or list(event.evidence) or [Evidence("")])[0]
        subject = f"pid {event.pid}" if event.pid is not None else ""
        if event.process:
            subject = f"{subject} {event.process}".strip()
        location = Location(path=first.path, line=first.line, subject=subject)
        yield rule.finding(
            said.explanation,
            location,
            evidence=event.evidence,
            remedy=said.next_steps[0] if said.next_steps else "",
            severity=Severity.ERROR if event.killed else Severity.WARNING,
        )

    rule: Rule[KillEvent] = Rule(
        id=rule_id,
        name=name,
        severity=Severity.ERROR,
        summary=summary,
        docs=docs,
        check=check,
        bad=bad,
        good=good,
        family="kill",
    )
    return rule
