"""Running rules under a time budget: a rule that overruns or fails costs what it was
judging, never the run (issue 9: "never hang, never crash, nothing lost").

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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TypeVar

from killproof.model import Finding
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
    clock: Callable[[], float] = time.monotonic
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
    start = budget.clock()
    try:
        with _deadline(left, rule.id, budget.seconds):
            return list(rule.check(facts))
    finally:
        budget.spent[rule.id] = budget.spent.get(rule.id, 0.0) + (budget.clock() - start)


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
