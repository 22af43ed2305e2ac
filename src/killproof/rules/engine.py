"""The one rule engine: :func:`run` judges facts with rules, and a rule that overruns its
time budget or fails costs what it was judging, never the run (issue 9: "never hang, never
crash, nothing lost"). ``check`` (Go packages, Go programs, deploy files), ``why`` and the
drill verdict all run their rules through :func:`run`.

Each rule gets :data:`RULE_BUDGET_S` seconds for a whole run (per process: parallel workers
each have their own). A call that would pass the rule's remaining budget is interrupted
(``SIGALRM``, when called from the main thread) and raises :class:`RuleOverrun`; once the
budget is spent the rule is not called again in that run. Callers turn both into
:class:`~killproof.model.Skipped` entries that name the rule.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TypeVar

from killproof.clock import REAL_CLOCK, Clock
from killproof.model import Finding, Skipped
from killproof.rules.base import Rule

F = TypeVar("F")

RULE_BUDGET_S = 30.0
"""Seconds one rule may spend in one run (per process). Every rule over the whole Go
standard library (2.4 M lines) takes well under a second, so only pathological input (or a
rule bug) comes near it."""


class RuleOverrun(Exception):
    """A rule used up its time budget for this run."""

    def __init__(self, rule_id: str, budget_s: float) -> None:
        super().__init__(f"rule {rule_id} ran out of its {budget_s:g} s time budget for this run")
        self.rule_id = rule_id


@dataclass
class RuleBudget:
    """Seconds each rule may still spend in this run; ``clock`` is in seconds."""

    seconds: float = RULE_BUDGET_S
    clock: Clock = REAL_CLOCK
    spent: dict[str, float] = field(default_factory=dict)

    def remaining(self, rule_id: str) -> float:
        """Seconds left for ``rule_id`` (zero or less: spent)."""
        return self.seconds - self.spent.get(rule_id, 0.0)

    def exhausted(self, rule_id: str) -> bool:
        """True once ``rule_id`` has used its whole budget."""
        return self.remaining(rule_id) <= 0.0


def run_rule(rule: Rule[F], facts: F, budget: RuleBudget) -> list[Finding]:
    """Every finding of ``rule`` on ``facts``.

    Raises :class:`RuleOverrun` when the rule's budget is (or becomes) spent, and whatever
    the rule itself raises.
    """
    left = budget.remaining(rule.id)
    if left <= 0.0:
        raise RuleOverrun(rule.id, budget.seconds)
    start = budget.clock.monotonic()
    try:
        with _deadline(left, rule.id, budget.seconds):
            return list(rule.check(facts))
    finally:
        budget.spent[rule.id] = budget.spent.get(rule.id, 0.0) + (budget.clock.monotonic() - start)


INTERNAL_ERROR = "internal error in rule"
"""The start of the reason of every skipped entry for a rule that raised."""

Isolate = Callable[[Rule[F], F, RuleBudget | None, Exception], tuple[list[Finding], list[Skipped]]]
"""A second try for a rule that raised on ``facts``: what it can still judge (the findings)
and what it cannot (skipped entries naming the rule), e.g. the deploy side retries object by
object. It may raise :class:`RuleOverrun`."""


def run(
    rules: Iterable[Rule[F]],
    facts: F,
    budget: RuleBudget | None = None,
    subject: str = "",
    isolate: Isolate[F] | None = None,
) -> tuple[list[Finding], list[Skipped]]:
    """Every finding of ``rules`` on ``facts``, and a skipped entry for each rule that
    raised or ran out of ``budget`` (None: no time budget), never an exception.

    A skipped entry names the rule: ``subject (KP123)`` (``KP123`` without ``subject``),
    with ``not checked: …`` for an overrun and :data:`INTERNAL_ERROR` for a crash. With
    ``isolate``, a rule that raised is handed to it for a second try.
    """
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    for rule in rules:
        what = f"{subject} ({rule.id})" if subject else rule.id
        try:
            findings += (
                run_rule(rule, facts, budget) if budget is not None else list(rule.check(facts))
            )
            continue
        except RuleOverrun as exc:
            skipped.append(Skipped(what, f"not checked: {exc}"))
            continue
        except Exception as exc:  # a rule bug must cost what it judged, not the run
            first = exc
        if isolate is None:
            skipped.append(Skipped(what, f"{INTERNAL_ERROR} {rule.id}: {_say(first)}"))
            continue
        try:
            found, missed = isolate(rule, facts, budget, first)
        except RuleOverrun as exc:
            skipped.append(Skipped(what, f"not checked: {exc}"))
        except Exception as exc:
            skipped.append(Skipped(what, f"{INTERNAL_ERROR} {rule.id}: {_say(exc)}"))
        else:
            findings += found
            skipped += missed
    return findings, skipped


def _say(exc: BaseException) -> str:
    """``ValueError: bad thing`` (at most 300 characters)."""
    return f"{type(exc).__name__}: {exc}"[:300]


@contextlib.contextmanager
def _deadline(seconds: float, rule_id: str, budget_s: float) -> Iterator[None]:
    """Raise :class:`RuleOverrun` in this thread after ``seconds`` of wall time.

    Only the main thread receives signals, and an interval timer someone else armed is
    left alone: there the budget is only accounted after the call.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):
        yield
        return

    def overrun(signum: int, frame: FrameType | None) -> None:
        raise RuleOverrun(rule_id, budget_s)

    previous = signal.signal(signal.SIGALRM, overrun)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)
