"""``killproof check``: walk → Go checks → deploy checks → one report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from killproof.check.deploy import check_deploy
from killproof.check.facts import GoResult
from killproof.check.suppress import apply_project_config
from killproof.check.walk import walk
from killproof.config import load_project_config
from killproof.errors import InputError
from killproof.model import Finding, Report, Severity, Skipped, merge_skipped

STDIN = "-"


@dataclass(frozen=True)
class CheckOptions:
    """How to run: worker processes for the Go side (0 = one per CPU)."""

    jobs: int = 0


def run_check(
    paths: Sequence[str], options: CheckOptions = CheckOptions(), stdin_text: str | None = None
) -> Report:
    """Check each path (a directory or a file; ``-`` = manifests on stdin for the deploy
    side) and merge everything into one report. Paths in findings are relative to the
    checked root: the directory itself, or a file's directory."""
    real = [p for p in paths if p != STDIN] or ([] if STDIN in paths else ["."])
    use_stdin = STDIN in paths
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    go_checked = syntax_errors = deploy_checked = 0
    programs = 0
    for raw in real:
        path = Path(raw)
        if not path.exists():
            raise InputError("no such file or directory", raw)
        root = path.resolve() if path.is_dir() else path.resolve().parent
        config = load_project_config(root)
        walked = walk(path)
        go = GoResult()
        if walked.go_files:
            # tree-sitter and the process pool load only when there is Go to read
            from killproof.check.go import check_go

            go = check_go(root, walked.go_files, options.jobs)
        deploy = check_deploy(root, walked.other_files, go.programs, None, config)
        findings += [*apply_project_config(go.findings, config), *deploy.findings]
        skipped += [Skipped(what, why) for what, why in walked.unreadable]
        skipped += [*go.skipped, *deploy.skipped]
        go_checked += go.files_checked
        syntax_errors += go.syntax_errors
        deploy_checked += deploy.files_checked
        programs += len(go.programs)
    if use_stdin:
        deploy = check_deploy(Path(os.curdir).resolve(), (), (), stdin_text or "")
        findings += deploy.findings
        skipped += deploy.skipped
        deploy_checked += deploy.files_checked
    report_findings = tuple(sorted(set(findings), key=Finding.sort_key))
    return Report(
        command="check",
        findings=report_findings,
        skipped=merge_skipped(skipped),
        metadata={
            "paths": list(paths),
            "go_files_checked": go_checked,
            "go_syntax_errors": syntax_errors,
            "go_programs": programs,
            "deploy_files_checked": deploy_checked,
        },
        summary=_summary(report_findings, go_checked, deploy_checked, syntax_errors),
    )


def _summary(findings: Sequence[Finding], go: int, deploy: int, errors: int) -> str:
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    parts = [
        f"{counts[Severity.ERROR]} errors, {counts[Severity.WARNING]} warnings, "
        f"{counts[Severity.INFO]} info",
        f"{go} Go files and {deploy} deploy files checked",
    ]
    if errors:
        parts.append(f"{errors} Go files skipped for syntax errors")
    return "; ".join(parts)
