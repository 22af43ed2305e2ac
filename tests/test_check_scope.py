"""Production code only by default: test and tooling trees are left out (and counted), examples
are judged and labelled, and `--include-tests` / `include_tests: true` bring tests back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from killproof.check.scope import PathKind, ci_only_dirs, classify, header_says_tests
from killproof.cli import main
from rundir import from_root

SHELL_FORM = "FROM debian:12\nCOPY api /api\nCMD /api --port 8080\n"
COMPOSE = "services:\n  api:\n    build: .\n"


@pytest.mark.parametrize(
    ("rel", "kind", "reason"),
    [
        ("test/e2e/compose.yaml", PathKind.TEST, "test/"),
        ("internal/testutil/fake.go", PathKind.TEST, "testutil/"),
        ("pkg/store/mocks/store.go", PathKind.TEST, "mocks/"),
        ("hack/tools/Dockerfile", PathKind.TEST, "hack/"),
        ("cmd/test-server/main.go", PathKind.TEST, "cmd/test-*/"),
        ("docker-compose.test.yaml", PathKind.TEST, "compose file for tests"),
        ("deploy/compose.e2e.yml", PathKind.TEST, "compose file for tests"),
        ("contrib/local-environment/docker-compose.yaml", PathKind.TEST, "local-environment/"),
        ("pkg/watcher/integrationtest/pod.yml", PathKind.TEST, "integrationtest/"),
        ("store/integrationtests/compose.yaml", PathKind.TEST, "integrationtests/"),
        ("examples/k8s/deployment.yaml", PathKind.EXAMPLE, "examples/"),
        ("docs/install/compose.yaml", PathKind.EXAMPLE, "docs/"),
        ("deploy/k8s/deployment.yaml", PathKind.PRODUCTION, ""),
        ("cmd/testify-server/main.go", PathKind.PRODUCTION, ""),
        ("docker-compose.prod.yaml", PathKind.PRODUCTION, ""),
        ("contest/app.yaml", PathKind.PRODUCTION, ""),
        ("pkg/integrations/deployment.yaml", PathKind.PRODUCTION, ""),
        ("documentation/lifecycle.yaml", PathKind.EXAMPLE, "documentation/"),
        ("deploy/tcp-full-example/echo.yaml", PathKind.EXAMPLE, "*-example/"),
        ("guides/install/deployment.yaml", PathKind.EXAMPLE, "guides/"),
        ("docker-compose.dev.yml", PathKind.TEST, "compose file for local development"),
        ("build/Dockerfile.debug", PathKind.TEST, "Dockerfile for local development"),
        (".devcontainer/Dockerfile", PathKind.TEST, ".devcontainer/"),
        (".github/actions/lint/Dockerfile", PathKind.TEST, ".github/"),
        ("provider/aws/fixtures/records.yaml", PathKind.TEST, "fixtures/"),
        ("docker-compose.yaml", PathKind.PRODUCTION, ""),
        ("integration/fixtures/simple.yaml", PathKind.TEST, "integration/"),
        ("ci/images/builder/Dockerfile", PathKind.TEST, "ci/"),
        ("pkg/cinder/deployment.yaml", PathKind.PRODUCTION, ""),
        ("compose.devices.yaml", PathKind.PRODUCTION, ""),
        ("tutorials/dns/bind.yaml", PathKind.EXAMPLE, "tutorials/"),
        ("Dockerfile.integration", PathKind.TEST, "Dockerfile for tests"),
        ("integration-test/Dockerfile.tester", PathKind.TEST, "integration-test/"),
        ("build/e2e.Dockerfile", PathKind.TEST, "Dockerfile for tests"),
        ("Dockerfile-ci", PathKind.TEST, "Dockerfile for tests"),
        ("Dockerfile.distroless", PathKind.PRODUCTION, ""),
        ("build/Dockerfile.contest", PathKind.PRODUCTION, ""),
        ("docs/examples.go", PathKind.EXAMPLE, "docs/"),
        ("examplesite/deploy.yaml", PathKind.PRODUCTION, ""),
    ],
)
def test_paths_are_classified_below_the_root(rel: str, kind: PathKind, reason: str) -> None:
    """Which directory or file name makes a path test code, an example, or production."""
    assert classify(rel).kind is kind
    assert classify(rel).reason == reason


def test_a_header_that_says_tests() -> None:
    """The leading comment block decides; comments further down do not."""
    assert header_says_tests("# Quick setups for testing storage backends.\nservices: {}\n")
    assert header_says_tests("---\n# Used by the e2e suite only\nservices: {}\n")
    assert header_says_tests("# Not for production: local development stack\nservices: {}\n")
    assert not header_says_tests("# Production stack\nservices: {}\n")
    assert not header_says_tests("services: {}\n# for testing\n")
    assert not header_says_tests("# Copyright 2024\n# Tested with compose v2\nservices: {}\n")
    assert header_says_tests("# Running this docker image runs the integration tests.\nFROM x\n")
    assert header_says_tests("# This image runs the test suite against redis\nFROM x\n")
    assert not header_says_tests("# Runs the API server (see tests/ for the suite)\nFROM x\n")
    assert not header_says_tests("# This Dockerfile runs the unit tests, then builds\nFROM x\n")


def make_repo(root: Path) -> None:
    """A small repo with production, test, tooling and example deploy files."""
    files = {
        "Dockerfile": SHELL_FORM,
        "compose.yaml": COMPOSE,
        "test/e2e/Dockerfile": SHELL_FORM,
        "hack/Dockerfile": SHELL_FORM,
        "docker-compose.test.yaml": COMPOSE,
        "dev/compose.yaml": "# Stack for local testing of the api.\n" + COMPOSE,
        "examples/simple/Dockerfile": SHELL_FORM,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    with from_root(["check", "--format", "json", *args]) as argv:
        main(argv)
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def findings(report: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(f["rule"], f["path"], f["line"]) for f in report["findings"]}


def test_tests_are_left_out_counted_and_examples_labelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_repo(tmp_path)
    report = check(capsys, str(tmp_path))
    assert findings(report) == {
        ("KP301", "Dockerfile", 3),
        ("KP303", "compose.yaml", 2),
        ("KP301", "examples/simple/Dockerfile", 3),
    }
    example = next(f for f in report["findings"] if f["path"].startswith("examples/"))
    assert example["subject"].startswith("example (examples/): ")
    assert report["metadata"]["left_out"] == {
        "test/": 1,
        "hack/": 1,
        "compose file for tests": 1,
        "header says it is for tests": 1,
    }
    with from_root(["check", tmp_path]) as argv:
        main(argv)
    summary = capsys.readouterr().out.splitlines()[0]
    assert "4 test/tooling files left out as not production" in summary
    assert "by rule: KP301 2, KP303 1" in summary


def test_include_tests_flag_and_config_bring_them_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_repo(tmp_path)
    everything = {
        ("KP301", "Dockerfile", 3),
        ("KP303", "compose.yaml", 2),
        ("KP301", "examples/simple/Dockerfile", 3),
        ("KP301", "test/e2e/Dockerfile", 3),
        ("KP301", "hack/Dockerfile", 3),
        # docker-compose.test.yaml is merged over compose.yaml (one project, one finding),
        # and dev/compose.yaml's api is the same service: named as a copy, not reported again
    }
    report = check(capsys, "--include-tests", str(tmp_path))
    assert findings(report) == everything
    kp303 = next(f for f in report["findings"] if f["rule"] == "KP303")
    assert kp303["evidence"][-1] == {
        "text": "same finding in a copy",
        "path": "dev/compose.yaml",
        "line": 3,
    }
    (tmp_path / ".killproof.yaml").write_text("include_tests: true\n")
    assert findings(check(capsys, str(tmp_path))) == everything


def test_a_root_named_tests_is_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only paths below the checked root are classified."""
    root = tmp_path / "tests" / "fixtures" / "svc"
    make_repo(root)
    got = findings(check(capsys, str(root)))
    assert ("KP301", "Dockerfile", 3) in got
    assert ("KP301", "test/e2e/Dockerfile", 3) not in got
    assert findings(check(capsys, str(root / "hack" / "Dockerfile"))) == {
        ("KP301", "Dockerfile", 3)
    }


def test_programs_only_ci_runs(tmp_path: Path) -> None:
    """`go run` in a pipeline marks a program as CI tooling unless something ships it; the
    root, module paths and variables are never marked."""
    files = {
        ".gitlab/bots.yml": "bot:\n  script:\n    - go run cmd/mr-bot/main.go\n",
        ".github/workflows/ci.yml": (
            "steps:\n  - run: go run ./tools/gen/...\n  - run: go run build.go\n"
            "  - run: go run github.com/acme/x/cmd/y@v1\n  - run: go run ./cmd/api -check\n"
            "  - run: go run $TOOL\n  - run: go run ./cmd/shipped\n"
            "  - run: go run ./cmd/notifier\n  - run: go run ./cmd/importer\n"
            "  - run: go run ./cmd/exporter --selftest\n"
            "  - run: CGO_ENABLED=0 go build -o dist/exporter ./cmd/exporter\n"
        ),
        "scripts/release.sh": "#!/bin/sh\nfor p in importer; do go build ./cmd/$p; done\n",
        "deploy/notifier.yaml": "containers:\n  - name: n\n    command: [/usr/bin/notifier]\n",
        "Makefile": "build:\n\tgo build -o bin/api ./cmd/api\n",
        "deploy/relay.service": "[Service]\nExecStart=/usr/bin/shipped\n",
        ".goreleaser.yaml": "builds:\n  - main: ./cmd/shipped\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    paths = [tmp_path / rel for rel in files]
    assert ci_only_dirs(tmp_path, paths) == {"cmd/mr-bot", "tools/gen"}
    assert classify("cmd/mr-bot/main.go", frozenset({"cmd/mr-bot"})).reason == (
        "program only CI runs"
    )
    assert classify("cmd/mr-botany/main.go", frozenset({"cmd/mr-bot"})).kind is PathKind.PRODUCTION
