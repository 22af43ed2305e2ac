"""The one rule engine: a rule that raises is a skipped entry naming it, in every command.

``check`` (Go package rules, Go program rules, deploy rules), ``why`` and the drill verdict
all run their rules through :func:`killproof.rules.engine.run`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from killproof.cli import main
from killproof.drill import verdict
from killproof.drill.scenario import parse_scenario
from killproof.model import Finding
from killproof.rules import engine, launch
from killproof.rules import go as go_rules
from killproof.rules.base import Rule
from killproof.rules.drill import RULES as DRILL_RULES
from killproof.rules.engine import INTERNAL_ERROR, RuleBudget
from killproof.rules.kill import RULES as KILL_RULES
from killproof.why import run as why_run
from test_check_repo_reader import overlay_repo

REPO = Path(__file__).resolve().parent.parent


def _boom(_facts: object) -> Iterable[Finding]:
    raise ZeroDivisionError("rule bug")


def crashing(rules: list[Rule[Any]], rule_id: str) -> list[Rule[Any]]:
    """``rules`` with ``rule_id``'s check replaced by one that raises."""
    assert any(r.id == rule_id for r in rules), rule_id
    return [dataclasses.replace(r, check=_boom) if r.id == rule_id else r for r in rules]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def crash_entries(report: dict[str, Any], rule_id: str) -> list[dict[str, str]]:
    return [
        s
        for s in report["skipped"]
        if s["what"] in (rule_id, f"{s['what'].split(' (')[0]} ({rule_id})")
        and s["reason"].startswith(f"{INTERNAL_ERROR} {rule_id}:")
    ]


def test_engine_turns_a_crash_and_an_overrun_into_skipped_entries() -> None:
    good = dataclasses.replace(KILL_RULES[0], check=lambda facts: [])
    bad = dataclasses.replace(KILL_RULES[1], check=_boom)
    found, skipped = engine.run([bad, good], object(), subject="x")
    assert found == []
    assert [(s.what, s.reason) for s in skipped] == [
        (f"x ({bad.id})", f"{INTERNAL_ERROR} {bad.id}: ZeroDivisionError: rule bug")
    ]
    spent = RuleBudget(seconds=1.0, spent={good.id: 2.0})
    found, skipped = engine.run([good], object(), spent)
    assert [s.what for s in skipped] == [good.id] and "not checked" in skipped[0].reason


def test_check_skips_a_crashing_package_program_and_deploy_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = overlay_repo(tmp_path / "shop")
    _, before = run_json(capsys, "check", str(root))
    fired = {f["rule"] for f in before["findings"]}
    assert {"KP101", "KP107", "KP212"} <= fired  # program, package and deploy rules
    monkeypatch.setattr(go_rules, "PACKAGE_RULES", crashing(go_rules.PACKAGE_RULES, "KP107"))
    monkeypatch.setattr(go_rules, "PROGRAM_RULES", crashing(go_rules.PROGRAM_RULES, "KP101"))
    monkeypatch.setattr(launch, "RULES", crashing(launch.RULES, "KP212"))
    code, after = run_json(capsys, "check", str(root))
    for rule_id in ("KP101", "KP107", "KP212"):
        assert len(crash_entries(after, rule_id)) == 1, (rule_id, after["skipped"])
    # The other rules' findings stand, and the exit status is theirs (design: 1 for errors).
    assert {f["rule"] for f in after["findings"]} == fired - {"KP101", "KP107", "KP212"}
    errors = [f for f in after["findings"] if f["severity"] == "error"]
    assert code == (1 if errors else 0)


def test_why_skips_a_crashing_kill_rule(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = str(REPO / "tests" / "fixtures" / "why" / "orders-oom.log")
    code_before, before = run_json(capsys, "why", log)
    fired = {f["rule"] for f in before["findings"]}
    assert fired, before
    victim = sorted(fired)[0]
    monkeypatch.setattr(why_run, "KILL_RULES", crashing(list(KILL_RULES), victim))
    code, after = run_json(capsys, "why", log)
    assert crash_entries(after, victim), after["skipped"]
    assert {f["rule"] for f in after["findings"]} == fired - {victim}
    assert after["events"] == before["events"]
    assert code == (1 if any(f["severity"] == "error" for f in after["findings"]) else 0)
    assert code_before in (0, 1)


def test_drill_verdict_skips_a_crashing_drill_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from test_drill_golden import ORDERS_OOM

    result = parse_scenario(ORDERS_OOM, "orders-oom.txt")
    before = verdict.build_report(result)
    assert {f.rule for f in before.findings} >= {"KP601", "KP602"}
    monkeypatch.setattr(verdict, "RULES", crashing(list(DRILL_RULES), "KP602"))
    after = verdict.build_report(result)
    assert {f.rule for f in after.findings} == {f.rule for f in before.findings} - {"KP602"}
    crashes = [s for s in after.skipped if s.what == "drill verdict (KP602)"]
    assert len(crashes) == 1 and crashes[0].reason.startswith(f"{INTERNAL_ERROR} KP602:")
    # KP601 (an error) still fails the drill.
    assert after.sections["verdict"] == before.sections["verdict"] == "fail"
