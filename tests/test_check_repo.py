"""The whole ``killproof check`` on a realistic multi-service repo, through the CLI.

``tests/fixtures/repo_multi`` has four Go mains (orders, payments, notifier, gateway), a
kustomize base with staging and prod overlays (namePrefix, replicas, images, a
strategic-merge patch file and an inline JSON 6902 patch, an HPA), Dockerfiles, a compose
file, a systemd unit, an entrypoint script and a ``.killproof.yaml``. Every finding it must
produce is listed below with the line it must point at, and why.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from killproof.cli import main
from rundir import from_root

REPO = Path(__file__).parent / "fixtures" / "repo_multi"

EXPECTED = {
    # Dockerfile CMD in shell form (gateway image; /bin/sh in debian is dash).
    ("KP301", "cmd/gateway/Dockerfile", 8),
    # STOPSIGNAL SIGQUIT; payments handles SIGTERM and SIGINT only.
    ("KP302", "cmd/payments/Dockerfile", 10),
    # staging: grace 30 s < 5 s drain sleep in code + 30 s Shutdown (prod patches it to 45).
    ("KP501", "deploy/base/payments.yaml", 26),
    # limits.cpu 500m, go 1.23, no automaxprocs (both overlays, merged into one finding).
    ("KP504", "deploy/base/payments.yaml", 40),
    # liveness probes /healthz; payments registers /livez, /ready, /charges.
    ("KP502", "deploy/base/payments.yaml", 44),
    # staging: PDB minAvailable 2 with 2 replicas (prod's HPA minReplicas 3 leaves room).
    ("KP215", "deploy/base/payments.yaml", 56),
    # prod patch raises orders' limit to 1Gi over a 128Mi request (8× > threshold 3).
    ("KP203", "deploy/overlays/prod/orders-memory.yaml", 12),
    # staging scales orders to one replica with no HPA (severity raised to warning).
    ("KP214", "deploy/overlays/staging/kustomization.yaml", 9),
    # notifier unit: no MemoryMax, GOGC=off without GOMEMLIMIT, KillSignal=SIGINT unhandled.
    ("KP304", "deploy/systemd/notifier.service", 5),
    ("KP213", "deploy/systemd/notifier.service", 7),
    ("KP302", "deploy/systemd/notifier.service", 8),
    # compose gateway without a memory limit.
    ("KP303", "docker-compose.yaml", 3),
    # '# killproof:ignore KP303' without a reason on the cache service.
    ("KP100", "docker-compose.yaml", 16),
    # payments' entrypoint script runs the server without exec.
    ("KP210", "scripts/entrypoint.sh", 7),
}


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """Run the CLI with ``--format json`` and parse what it printed."""
    with from_root([*argv, "--format", "json"]) as args:
        code = main(args)
    return code, json.loads(capsys.readouterr().out)


def test_repo_findings_are_exactly_the_expected_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """Rule, file and line of every finding; nothing skipped; exit 1 (errors present)."""
    code, report = run_json(["check", str(REPO)], capsys)
    got = {(f["rule"], f["path"], f["line"]) for f in report["findings"]}
    assert got == EXPECTED
    assert report["skipped"] == []
    assert report["metadata"]["go_programs"] == 4
    assert code == 1


def test_overlays_and_suppressions(capsys: pytest.CaptureFixture[str]) -> None:
    """Which overlay each finding belongs to, and that each suppression mechanism worked."""
    _, report = run_json(["check", str(REPO)], capsys)
    by_key = {(f["rule"], f["path"], f["line"]): f for f in report["findings"]}
    # Only staging is wrong for these two; prod fixed them.
    assert by_key[("KP501", "deploy/base/payments.yaml", 26)]["subject"].startswith(
        "deploy/overlays/staging:"
    )
    assert "prod" not in by_key[("KP215", "deploy/base/payments.yaml", 56)]["subject"]
    # The same base line judged through both overlays is reported once, naming both.
    subject = by_key[("KP504", "deploy/base/payments.yaml", 40)]["subject"]
    assert "deploy/overlays/prod" in subject and "deploy/overlays/staging" in subject
    # .killproof.yaml severity override.
    assert (
        by_key[("KP214", "deploy/overlays/staging/kustomization.yaml", 9)]["severity"] == "warning"
    )
    rules = {f["rule"] for f in report["findings"]}
    assert "KP211" not in rules  # killproof.dev/ignore annotation on the orders Deployment
    assert ("KP303", "docker-compose.yaml", 16) not in by_key  # comment suppression
    assert not any(r == "KP501" and p == "docker-compose.yaml" for r, p, _ in by_key)  # config


def test_fail_on_and_sarif(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--fail-on decides the exit code; SARIF carries the same results."""
    with from_root(["check", REPO, "--fail-on", "error", "-o", tmp_path / "r.txt"]) as argv:
        assert main(argv) == 1
    out = tmp_path / "r.sarif"
    with from_root(["check", REPO, "--format", "sarif", "-o", out]) as argv:
        main(argv)
    sarif = json.loads(out.read_text())
    results = {
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in sarif["runs"][0]["results"]
    }
    assert results == EXPECTED


def test_stdin_manifests(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``killproof check -`` reads `helm template` output: findings point at stdin lines."""
    text = (REPO / "deploy" / "base" / "payments.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO("# Source: shop/templates/payments.yaml\n" + text))
    code, report = run_json(["check", "-"], capsys)
    got = {(f["rule"], f["path"], f["line"]) for f in report["findings"]}
    # Without the Go code nobody knows payments sleeps before Shutdown: KP209 now fires
    # (line 29 after the header), and the PDB still blocks eviction.
    assert got == {("KP209", "<stdin>", 29), ("KP215", "<stdin>", 57)}
    # `helm template` marks each document's template: findings name it.
    assert all(
        f["subject"].startswith("shop/templates/payments.yaml: ") for f in report["findings"]
    )
    assert code == 0  # KP209 and KP215 are warnings: below the default --fail-on error
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["check", "-", "--fail-on", "warning", "--format", "json"]) == 1
    capsys.readouterr()


def test_stdin_bad_yaml_is_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broken YAML on stdin: exit 2 and a message naming <stdin> and the line."""
    monkeypatch.setattr("sys.stdin", io.StringIO("apiVersion: v1\nkind: Pod\nmetadata: [\n"))
    assert main(["check", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("killproof: <stdin>:") and len(err.strip().splitlines()) == 1


def test_broken_files_are_skipped_with_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A broken manifest, Dockerfile and unit are KP001 errors at their file and line;
    good files are still checked."""
    (tmp_path / "bad.yaml").write_text("apiVersion: v1\nkind: Pod\nspec:\n  - a\n  b: c\n")
    (tmp_path / "Dockerfile").write_text("FROM alpine\nFROBNICATE x\n")
    (tmp_path / "x.service").write_text("[Service]\nthis is not an assignment\n")
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    build: .\n")
    code, report = run_json(["check", str(tmp_path)], capsys)
    assert code == 1
    assert not report["skipped"]
    assert {(f["rule"], f["path"], f["line"]) for f in report["findings"]} == {
        ("KP303", "compose.yaml", 2),
        ("KP001", "bad.yaml", 5),
        ("KP001", "Dockerfile", 2),
        ("KP001", "x.service", 2),
    }


def test_junit_lists_each_finding_as_a_failing_case(tmp_path: Path) -> None:
    """JUnit for CI: one failing test case per warning/error finding, named rule + place."""
    import xml.etree.ElementTree as ET

    out = tmp_path / "r.xml"
    with from_root(["check", REPO, "--format", "junit", "-o", out]) as argv:
        main(argv)
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name", "").split(" (")[0] for c in suite.iter("testcase")}
    assert cases == {f"{rule} {path}:{line}" for rule, path, line in EXPECTED}
    assert suite.get("failures") == str(len(EXPECTED))
