"""Every fixture under tests/fixtures/go/KPxxx/ is checked on its own; the findings must be
exactly the ``// want KPxxx`` markers written in it (rule and line), for every rule.

A fixture is one ``.go`` file, checked as the only file of its package. The nearest
``go.mod`` between the fixture and tests/fixtures/go is copied beside it (KP116 needs the
go version). Lines marked ``// ok`` document clean lines; any finding there fails too.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from killproof.check.go import check_go

FIXTURES = Path(__file__).parent / "fixtures" / "go"
_WANT = re.compile(r"//\s*want\s+(?P<ids>KP[0-9]{3}(?:\s+KP[0-9]{3})*)")
_CASES = sorted(p for p in FIXTURES.glob("KP*/**/*.go"))


def expected(source: str) -> set[tuple[str, int]]:
    """(rule, line) pairs from the ``// want`` markers."""
    out: set[tuple[str, int]] = set()
    for lineno, line in enumerate(source.splitlines(), 1):
        m = _WANT.search(line)
        if m:
            out.update((rule, lineno) for rule in m.group("ids").split())
    return out


def _gomod(fixture: Path) -> Path | None:
    cur = fixture.parent
    while cur != FIXTURES.parent:
        if (cur / "go.mod").is_file():
            return cur / "go.mod"
        cur = cur.parent
    return None


def check_fixture(fixture: Path, tmp: Path) -> set[tuple[str, int]]:
    """Copy one fixture (and its go.mod) to ``tmp`` and return what the checker finds."""
    shutil.copy(fixture, tmp / fixture.name)
    gomod = _gomod(fixture)
    if gomod is not None:
        shutil.copy(gomod, tmp / "go.mod")
    result = check_go(tmp, [tmp / fixture.name], jobs=1)
    assert not result.skipped, result.skipped
    assert all(f.location.path == fixture.name for f in result.findings)
    return {(f.rule, f.location.line) for f in result.findings}


@pytest.mark.parametrize("fixture", _CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_findings_are_exactly_the_markers(fixture: Path, tmp_path: Path) -> None:
    want = expected(fixture.read_text(encoding="utf-8"))
    assert check_fixture(fixture, tmp_path) == want


def test_every_rule_has_three_bad_and_three_good_fixtures() -> None:
    from killproof.rules.go import RULES

    for rule in RULES:
        files = list((FIXTURES / rule.id).glob("**/*.go"))
        bad = [f for f in files if (rule.id, 0) in {(r, 0) for r, _ in expected(f.read_text())}]
        good = [f for f in files if f not in bad]
        assert len(bad) >= 3, f"{rule.id}: {len(bad)} bad fixtures"
        assert len(good) >= 3, f"{rule.id}: {len(good)} good fixtures"
