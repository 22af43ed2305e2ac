"""Go test support and CI tooling are left out of ``check`` by default and brought back by
``--include-tests`` / ``include_tests: true`` (issue 11: testutil/, mocks, test helpers,
cmd/test-*, bots CI runs with ``go run``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from killproof.cli import main
from killproof.sources.golang.ci import go_run_dirs
from rundir import from_root

GOMOD = "module example.com/svc\n\ngo 1.22\n"
CLIENT = 'package {pkg}\n\nimport "net/http"\n\nvar Client = &http.Client{{}}\n'
BOT = (
    'package main\n\nimport "net/http"\n\nvar c = &http.Client{}\n\n'
    'func main() { _, _ = c.Get("https://gitlab.example/api") }\n'
)
HELPER = (
    'package store\n\nimport (\n\t"net/http"\n\t"testing"\n)\n\n'
    "var _ testing.TB\nvar TestClient = &http.Client{}\n"
)
PRODUCTION = ("KP114", "internal/store/client.go", 5)
SUPPORT = {
    ("KP114", "internal/testutil/client.go", 5),
    ("KP114", "pkg/mocks/client.go", 5),
    ("KP114", "cmd/test-server/main.go", 5),
    ("KP114", "internal/store/testclient.go", 9),
    ("KP114", "cmd/mr-bot/main.go", 5),
    ("KP114", "tools/notes/main.go", 5),
    ("KP114", "cmd/release-helper/main.go", 5),
}


def make_tree(root: Path) -> None:
    """A service with a production client and six kinds of test or CI code beside it."""
    files = {
        "go.mod": GOMOD,
        "internal/store/client.go": CLIENT.format(pkg="store"),
        "internal/store/testclient.go": HELPER,
        "internal/testutil/client.go": CLIENT.format(pkg="testutil"),
        "pkg/mocks/client.go": CLIENT.format(pkg="mocks"),
        "cmd/test-server/main.go": BOT,
        "cmd/mr-bot/main.go": BOT,
        "tools/notes/main.go": BOT,
        "cmd/release-helper/main.go": BOT,
        ".gitlab/bots.yml": "bot:\n  script:\n    - go run cmd/mr-bot/main.go\n",
        ".github/workflows/notes.yaml": (
            "jobs:\n  notes:\n    steps:\n      - run: go run -tags ci ./tools/notes --since v1\n"
        ),
        ".gitlab-ci.yml": "release:\n  script: go run ./cmd/release-helper | tee out\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    with from_root(["check", "--format", "json", *args]) as argv:
        main(argv)
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def go_findings(report: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {
        (f["rule"], f["path"], f["line"]) for f in report["findings"] if f["path"].endswith(".go")
    }


def test_go_test_support_and_ci_bots_are_left_out_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_tree(tmp_path)
    report = check(capsys, str(tmp_path))
    assert go_findings(report) == {PRODUCTION}
    skipped = {s["what"]: s["reason"] for s in report["skipped"]}
    assert "testing" in skipped["1 Go files of test support"]
    assert report["metadata"]["left_out"] == {
        "testutil/": 1,
        "mocks/": 1,
        "cmd/test-*/": 1,
        "program only CI runs": 3,
        ".github/": 1,
        ".gitlab/": 1,
    }


def test_include_tests_brings_the_go_test_code_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_tree(tmp_path)
    assert go_findings(check(capsys, "--include-tests", str(tmp_path))) == {PRODUCTION, *SUPPORT}
    (tmp_path / ".killproof.yaml").write_text("include_tests: true\n")
    assert go_findings(check(capsys, str(tmp_path))) == {PRODUCTION, *SUPPORT}


@pytest.mark.parametrize(
    ("text", "dirs"),
    [
        ("- go run cmd/gitlab-mr-checker/main.go", {"cmd/gitlab-mr-checker"}),
        ("run: go run -tags ci ./tools/notes --since v1", {"tools/notes"}),
        ('script: "go run ./cmd/x/ | tee log"', {"cmd/x"}),
        ("go run ./script/next-version.go --pre", {"script"}),
        # the project itself, a tool from elsewhere, a pattern, a variable: not tooling dirs
        ("go run .", set()),
        ("go run build.go -goos linux", set()),
        ("go run golang.org/x/tools/cmd/stringer@v0.20.0", set()),
        ("go run ./... ", set()),
        ("go run $CMD", set()),
        ("go vet ./cmd/x && echo go running", set()),
    ],
)
def test_go_run_targets_are_read_from_ci_text(text: str, dirs: set[str]) -> None:
    assert go_run_dirs(text) == dirs
