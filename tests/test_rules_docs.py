"""Every rule in the catalog documents itself in the fixed schema, and its examples run:
each bad example produces the rule's finding, each good one does not."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from killproof.check.go import check_go
from killproof.model import Finding
from killproof.rules import all_rules
from killproof.rules.base import DOC_SECTIONS, Example, Rule

# Go examples are single files; KP116's bad example needs a go version before 1.23.
EXAMPLE_GOMOD = "module example.com/example\n\ngo 1.22\n"
RULES = all_rules()


def run_go_example(example: Example, tmp: Path) -> list[Finding]:
    """Check one Go example as the only file of a module that says ``go 1.22``."""
    name = example.filename or "main.go"
    (tmp / name).write_text(example.source, encoding="utf-8")
    (tmp / "go.mod").write_text(EXAMPLE_GOMOD, encoding="utf-8")
    result = check_go(tmp, [tmp / name], jobs=1)
    assert not result.skipped, f"example does not parse: {result.skipped}"
    return list(result.findings)


def run_drill_example(example: Example, _tmp: Path) -> list[Finding]:
    """A drill scenario (``text``) judged by every KP6xx rule."""
    from killproof.drill.scenario import parse_scenario
    from killproof.rules.drill import RULES as DRILL_RULES

    result = parse_scenario(example.source, example.filename or "scenario")
    return [f for r in DRILL_RULES for f in r.check(result)]


def run_evidence_example(example: Example, tmp: Path) -> list[Finding]:
    """Kill evidence (``evidence``) read by ``killproof why``'s core from a file."""
    from killproof.why.run import explain_kills

    path = tmp / (example.filename or "evidence.log")
    path.write_text(example.source, encoding="utf-8")
    return list(explain_kills([str(path)], None).findings)


def run_check_example(example: Example, tmp: Path) -> list[Finding]:
    """A whole ``check`` of a tree holding only the example (rules about reading files)."""
    from killproof.check.run import run_check

    (tmp / (example.filename or "main.go")).write_text(example.source, encoding="utf-8")
    if example.language == "go":
        (tmp / "go.mod").write_text(EXAMPLE_GOMOD, encoding="utf-8")
    return list(run_check([str(tmp)]).findings)


DEPLOY_LANGUAGES = frozenset({"yaml", "dockerfile", "compose", "systemd"})


def runner(language: str, family: str = "") -> Callable[[Example, Path], list[Finding]] | None:
    """The function that runs examples of ``language``, None when none is built."""
    if family == "inputs":
        return run_check_example
    if language == "go":
        return run_go_example
    if language == "text":
        return run_drill_example
    if language == "evidence":
        return run_evidence_example
    if language not in DEPLOY_LANGUAGES:
        return None
    try:
        deploy = importlib.import_module("killproof.check.deploy")
    except ImportError:
        return None
    check_example = getattr(deploy, "check_example", None)
    if check_example is None:
        return None
    return lambda example, _tmp: list(check_example(example))


def _examples(kind: str) -> list[tuple[Rule[Any], Example]]:
    return [(r, e) for r in RULES for e in getattr(r, kind)]


def _id(item: tuple[Rule[Any], Example]) -> str:
    rule, example = item
    return f"{rule.id}-{example.language}-{example.filename or 'default'}"


def test_catalog_is_not_empty_and_ids_are_unique() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert {f"KP{n}" for n in range(100, 118)} <= set(ids)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_has_every_doc_section_and_examples(rule: Rule[Any]) -> None:
    sections = rule.docs.sections()
    for title in DOC_SECTIONS:
        assert sections[title].strip(), f"{rule.id}: empty '{title}'"
    assert rule.name == rule.name.lower() and " " not in rule.name
    assert rule.summary.strip()
    assert rule.bad, f"{rule.id} has no bad example"
    assert rule.good, f"{rule.id} has no good example"


@pytest.mark.parametrize("item", _examples("bad"), ids=_id)
def test_bad_example_fires(item: tuple[Rule[Any], Example], tmp_path: Path) -> None:
    rule, example = item
    run = runner(example.language, rule.family)
    if run is None:
        pytest.skip(f"no example runner for {example.language!r} examples yet")
    found = [f.rule for f in run(example, tmp_path)]
    assert rule.id in found, f"{rule.id} bad example produced {found}"


@pytest.mark.parametrize("item", _examples("good"), ids=_id)
def test_good_example_is_clean(item: tuple[Rule[Any], Example], tmp_path: Path) -> None:
    rule, example = item
    run = runner(example.language, rule.family)
    if run is None:
        pytest.skip(f"no example runner for {example.language!r} examples yet")
    found = [f.rule for f in run(example, tmp_path)]
    assert rule.id not in found, f"{rule.id} good example produced {found}"
