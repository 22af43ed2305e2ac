"""Advice that fits the victim, and sentences that read well with fields missing (issue 10)."""

from __future__ import annotations

import importlib

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.kill import RULES, VERDICTS, explain
from killproof.why.run import build_report


def _memcg(process: str | None) -> KillEvent:
    return KillEvent(cause=Cause.KERNEL_OOM_MEMCG, source="kernel", pid=7, process=process)


def test_go_advice_only_for_go_or_unknown_victims() -> None:
    for name in ("java", "qemu-system-x86", "postgres", "python3"):
        steps = " ".join(explain(_memcg(name)).next_steps)
        assert "GOMEMLIMIT" not in steps and "goroutine" not in steps, name
        assert name in steps  # the advice names the program instead
    for maybe in (None, "orders"):
        assert "GOMEMLIMIT" in " ".join(explain(_memcg(maybe)).next_steps), maybe
    stop = KillEvent(cause=Cause.SYSTEMD_STOP_TIMEOUT, source="systemd", pid=3, process="java")
    assert "NotifyContext" not in " ".join(explain(stop).next_steps)


def test_no_doubled_or_dangling_words_when_fields_are_missing() -> None:
    text = explain(_memcg("orders")).explanation
    assert "because its memory cgroup reached its limit" in text
    assert "memory cgroup a memory cgroup" not in text
    attempt = KillEvent(cause=Cause.EARLYOOM, source="earlyoom", killed=False, pid=5, host="h1")
    verdict = explain(attempt)
    assert verdict.headline == "earlyoom tried to kill a process (pid 5)"
    assert " in on " not in verdict.explanation and "a process (pid 5) on h1" in verdict.explanation
    nameless = KillEvent(cause=Cause.SIGKILL_UNKNOWN, source="shell")
    assert explain(nameless).headline.startswith("A process got SIGKILL")


def test_no_collect_the_full_report_when_it_was_given() -> None:
    cut = KillEvent(cause=Cause.KERNEL_OOM_UNKNOWN_SCOPE, source="kernel", pid=9)
    assert "Collect the full kernel report" in explain(cut).next_steps[0]
    whole = cut.with_changes(invoker_pid=8)
    assert "Collect the full kernel report" not in " ".join(explain(whole).next_steps)


def test_a_burst_of_identical_kills_gives_its_fix_once() -> None:
    burst = [_memcg("orders").with_changes(pid=p) for p in (1, 2, 3)]
    findings = build_report(burst, (), ("k.log",)).findings
    assert [bool(f.remedy) for f in findings] == [True, False, False]


def test_every_cause_is_worded_by_the_rule_module_that_owns_it() -> None:
    """Each cause has one KP7xx module; the finding of its rule carries that module's verdict."""
    assert set(VERDICTS) == set(Cause)
    for cause, verdict in VERDICTS.items():
        owner = importlib.import_module(verdict.__module__)
        event = KillEvent(cause=cause, source="kernel", pid=7, process="orders", killed=True)
        found = [f for rule in RULES for f in rule.check(event)]
        assert [f.rule for f in found] == [owner.RULE.id], cause
        assert found[0].message == explain(event).explanation == verdict(event).explanation
