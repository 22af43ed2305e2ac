"""Generated documentation stays in step with the rule modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.cli import main
from killproof.commands.rules import catalog_markdown
from killproof.rules import all_rules
from killproof.rules.base import DOC_SECTIONS

REPO = Path(__file__).resolve().parent.parent


def test_docs_rules_md_is_generated_from_the_rule_modules() -> None:
    committed = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == catalog_markdown(), "run: killproof rules --docs > docs/rules.md"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_every_rule_documents_every_section(rule: object) -> None:
    from killproof.rules.base import Rule

    assert isinstance(rule, Rule)
    sections = rule.docs.sections()
    for title in DOC_SECTIONS:
        assert sections[title].strip(), f"{rule.id} lacks '{title}'"
    assert rule.bad and rule.good, f"{rule.id} needs a bad and a good example"


def test_explain_prints_one_rule_and_rejects_unknown_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "kp701"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# KP701 kernel-oom-memcg (error)")
    assert "## Why it gets you killed" in out
    assert main(["explain", "KP999"]) == 2
    assert "unknown rule 'KP999'" in capsys.readouterr().err
