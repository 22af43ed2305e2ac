"""What a rule is: identity, documentation in a fixed schema, runnable examples, a check.

Every rule module defines one module-level ``RULE`` built from :class:`Rule`. The catalog
(:mod:`killproof.rules`) is an explicit sorted list of those modules; ``killproof rules``,
``killproof explain``, the docs pages and SARIF rule metadata are generated from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from killproof.model import Evidence, Finding, Location, Severity

F = TypeVar("F")

DOC_SECTIONS = ("What it checks", "Why it gets you killed", "Example", "Fix", "References")
"""The fixed documentation schema; a test fails when a rule lacks one of them."""


@dataclass(frozen=True)
class Example:
    """A runnable example: ``source`` in ``language`` (``go``, ``yaml``, ``dockerfile``,
    ``compose``, ``systemd``, ``text``), for a file named ``filename``. A bad example must
    produce the rule's finding, a good one must not."""

    language: str
    source: str
    filename: str = ""


@dataclass(frozen=True)
class RuleDocs:
    """The fixed documentation schema of a rule (Markdown in each field)."""

    what: str
    why: str
    example: str
    fix: str
    references: tuple[str, ...] = ()

    def sections(self) -> dict[str, str]:
        """The docs keyed by the section titles of :data:`DOC_SECTIONS`."""
        return {
            "What it checks": self.what,
            "Why it gets you killed": self.why,
            "Example": self.example,
            "Fix": self.fix,
            "References": "\n".join(f"- {r}" for r in self.references),
        }


@dataclass(frozen=True)
class Rule(Generic[F]):
    """One rule: ``check`` is a pure function of the facts it is given (type ``F``)."""

    id: str
    name: str
    severity: Severity
    summary: str
    docs: RuleDocs
    check: Callable[[F], Iterable[Finding]]
    bad: tuple[Example, ...] = ()
    good: tuple[Example, ...] = ()
    family: str = field(default="")

    def finding(
        self,
        message: str,
        location: Location,
        evidence: Iterable[Evidence] = (),
        remedy: str = "",
        severity: Severity | None = None,
    ) -> Finding:
        """A finding of this rule (the rule's severity unless overridden)."""
        return Finding(
            rule=self.id,
            name=self.name,
            severity=severity or self.severity,
            message=message,
            location=location,
            evidence=tuple(evidence),
            remedy=remedy or self.docs.fix.strip().splitlines()[0],
        )
