"""Every deploy rule against its fixture directory: the exact (file, line) set it must report.

Each ``tests/fixtures/deploy/KPxxx/`` is a small repo. Lines the rule must flag carry
``# want KPxxx`` (inline, or alone on the line before); clean cases carry ``# ok``. Files
that cannot hold comments (JSON) list their expectations in ``want.txt`` as
``path:line KPxxx``. Go mains in a fixture are read by the real Go side.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from killproof.check.deploy import check_deploy, deploy_rules
from killproof.check.go import check_go
from killproof.config import ProjectConfig
from killproof.facts.go_program import GoProgram

FIXTURES = Path(__file__).parent / "fixtures" / "deploy"
RULE_DIRS = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
_WANT = re.compile(r"#\s*want\s+(KP\d{3}(?:\s*,\s*KP\d{3})*)")


def expectations(root: Path) -> tuple[set[tuple[str, str, int]], int]:
    """(rule, path, line) triples the fixture wants, and the number of ``# ok`` cases."""
    want: set[tuple[str, str, int]] = set()
    oks = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel == "want.txt":
            for line in path.read_text().splitlines():
                where, rule = line.split()
                file, number = where.rsplit(":", 1)
                want.add((rule, file, int(number)))
            continue
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            oks += "# ok" in line or "// ok" in line
            match = _WANT.search(line)
            if match is None:
                continue
            target = index + 1
            if line.lstrip().startswith("#"):  # alone on its line: the next code line
                target = next(
                    j + 1
                    for j in range(index + 1, len(lines))
                    if lines[j].strip() and not lines[j].lstrip().startswith("#")
                )
            for rule in match[1].split(","):
                want.add((rule.strip(), rel, target))
    return want, oks


def run_fixture(root: Path) -> list[tuple[str, str, int]]:
    """All (rule, path, line) findings of the deploy side on a fixture repo."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "want.txt")
    go_files = [p for p in files if p.suffix == ".go"]
    programs: tuple[GoProgram, ...] = check_go(root, go_files, jobs=1).programs if go_files else ()
    others = [p for p in files if p.suffix not in (".go", ".mod")]
    result = check_deploy(root, others, programs, None, ProjectConfig())
    # tutorial scaffolding in a fixture's docs/ is skipped by design (and said so)
    unread = [s for s in result.skipped if "tutorial workload" not in s.what]
    assert unread == [], unread
    return [(f.rule, f.location.path, f.location.line) for f in result.findings]


@pytest.mark.parametrize("root", RULE_DIRS, ids=lambda p: p.name)
def test_rule_fixture(root: Path) -> None:
    """The rule reports exactly the wanted lines, and the fixture has ≥3 bad and ≥3 good cases."""
    rule = root.name
    want, oks = expectations(root)
    got = {f for f in run_fixture(root) if f[0] == rule}
    assert got == {w for w in want if w[0] == rule}
    assert len(want) >= 3, f"{rule}: fewer than 3 bad cases"
    assert oks >= 3, f"{rule}: fewer than 3 good cases"


def test_every_deploy_rule_has_a_fixture() -> None:
    """No deploy rule ships without its fixture directory."""
    assert {r.id for r in deploy_rules()} == {p.name for p in RULE_DIRS}
