"""What counts as production, by false-positive kind: each ``tests/fixtures/scope/KIND/``
is a small repo checked as a user would (``killproof check DIR``). Lines that must be
reported carry ``# want KPxxx`` / ``// want KPxxx`` (inline, or alone on the line before
the code line); cases that must not be reported carry ``# ok`` / ``// ok``. Only the rules
some ``want`` names are run, so a case is about its kind, not about every other rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from killproof.check.link import built_names, link_dockerfiles
from killproof.check.run import CheckOptions, run_check
from killproof.facts.go_program import GoProgram
from killproof.model import Location
from killproof.sources.deploy.dockerfile import parse_dockerfile

FIXTURES = Path(__file__).parent / "fixtures" / "scope"
KINDS = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
_WANT = re.compile(r"(?:#|//)\s*want\s+(KP\d{3}(?:\s*,\s*KP\d{3})*)")
_OK = re.compile(r"(?:#|//)\s*ok\b")
_COMMENT = ("#", "//")


def expectations(root: Path) -> tuple[set[tuple[str, str, int]], int]:
    """(rule, path, line) the fixture wants reported, and how many ``ok`` cases it has."""
    want: set[tuple[str, str, int]] = set()
    oks = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            oks += bool(_OK.search(line))
            match = _WANT.search(line)
            if match is None:
                continue
            target = index + 1
            if line.lstrip().startswith(_COMMENT):
                target = next(
                    j + 1
                    for j in range(index + 1, len(lines))
                    if lines[j].strip() and not lines[j].lstrip().startswith(_COMMENT)
                )
            want |= {(r.strip(), rel, target) for r in match[1].split(",")}
    return want, oks


@pytest.mark.parametrize("root", KINDS, ids=lambda p: p.name)
def test_kind_fixture(root: Path) -> None:
    """Exactly the wanted lines are reported, with ≥3 reported and ≥3 left-alone cases."""
    want, oks = expectations(root)
    rules = frozenset(rule for rule, _, _ in want)
    report = run_check([str(root)], CheckOptions(jobs=1, enable=rules))
    got = {(f.rule, f.location.path, f.location.line) for f in report.findings}
    assert got == want
    assert len(want) >= 3, f"{root.name}: fewer than 3 reported cases"
    assert oks >= 3, f"{root.name}: fewer than 3 cases left alone"


def test_docs_findings_are_labelled_and_scaffolding_is_counted() -> None:
    """The project's own workloads in docs are judged as examples; the walkthrough's
    third-party workloads are named in the skipped work, not dropped silently."""
    report = run_check([str(FIXTURES / "docs_scaffolding")], CheckOptions(jobs=1))
    subjects = {f.location.path: f.location.subject for f in report.findings if f.rule == "KP201"}
    assert subjects == {
        "documentation/install/shop.yaml": "example (documentation/): Pod/shop container shop",
        "docs/quickstart/api.yaml": "example (docs/): Pod/api container api",
        "deploy/echo.yaml": "Pod/echo container echo",
    }
    assert [s.what for s in report.skipped if "tutorial" in s.what] == [
        "3 tutorial workloads in examples/docs"
    ]


def test_ci_only_programs_and_test_images_are_left_out_and_counted() -> None:
    """The summary says what was left out and why; --include-tests judges it all again."""
    root = str(FIXTURES / "not_production")
    left_out = run_check([root], CheckOptions(jobs=1)).metadata["left_out"]
    assert left_out == {
        "program only CI runs": 2,
        "Dockerfile for tests": 2,
        "header says it is for tests": 1,
        ".github/": 1,
        ".gitlab/": 1,
    }
    every = run_check([root], CheckOptions(jobs=1, include_tests=True, enable=frozenset({"KP107"})))
    assert {f.location.path for f in every.findings} == {
        "cmd/api/main.go",
        "cmd/mr-bot/main.go",
        "tools/relnotes/main.go",
        "internal/stubserver/stub.go",
    }


def test_built_names_come_from_dockerfiles_that_build_the_repos_programs() -> None:
    """`go build -o manager` in the repo's Dockerfile names the binary a docs example runs."""
    main = GoProgram("cmd", "cmd", Location("cmd/main.go", 1), "example.com/widget-operator")
    df = parse_dockerfile(
        "FROM golang:1.24 AS build\nCOPY . .\nRUN go build -o manager cmd/main.go\n"
        'FROM gcr.io/distroless/static\nCOPY --from=build /manager .\nENTRYPOINT ["/manager"]\n',
        "Dockerfile",
    )
    assert "manager" in built_names(link_dockerfiles([df], [main]))
    assert built_names(link_dockerfiles([df], [])) == frozenset()
