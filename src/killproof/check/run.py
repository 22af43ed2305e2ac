"""``killproof check``: walk → Go checks → deploy checks → one report."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from killproof.check.copies import merge_copies
from killproof.check.deploy import check_deploy
from killproof.check.facts import GoResult
from killproof.check.scope import PathKind, classify
from killproof.check.suppress import apply_project_config
from killproof.check.walk import walk
from killproof.config import load_project_config
from killproof.errors import InputError
from killproof.model import Finding, Report, Severity, Skipped, merge_skipped

STDIN = "-"


@dataclass(frozen=True)
class CheckOptions:
    """How to run: worker processes for the Go side (0 = one per CPU); whether test and
    tooling trees are judged (None: ``include_tests`` of ``.killproof.yaml``, else no)."""

    jobs: int = 0
    include_tests: bool | None = None


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
    left_out: list[tuple[str, str]] = []
    for raw in real:
        path = Path(raw)
        if not path.exists():
            raise InputError("no such file or directory", raw)
        root = path.resolve() if path.is_dir() else path.resolve().parent
        config = load_project_config(root)
        if options.include_tests is not None:
            config = dataclasses.replace(config, include_tests=options.include_tests)
        walked = walk(path)
        go_files, other_files = list(walked.go_files), list(walked.other_files)
        if path.is_dir() and not config.include_tests:
            go_files = _production(root, go_files, left_out)
            other_files = _production(root, other_files, left_out)
        go = GoResult()
        if go_files:
            # tree-sitter and the process pool load only when there is Go to read
            from killproof.check.go import check_go

            go = check_go(root, go_files, options.jobs)
        deploy = check_deploy(root, other_files, go.programs, None, config)
        left_out += deploy.left_out
        found = [*apply_project_config(go.findings, config), *merge_copies(deploy.findings)]
        findings += [_label_example(f) for f in found] if path.is_dir() else found
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
            "left_out": dict(Counter(reason for _, reason in left_out)),
        },
        summary=_summary(report_findings, go_checked, deploy_checked, syntax_errors, left_out),
    )


def _production(root: Path, files: list[Path], left_out: list[tuple[str, str]]) -> list[Path]:
    """The files below ``root`` that are production code; the others go to ``left_out``
    as (root-relative path, reason)."""
    kept: list[Path] = []
    prefix = str(root).rstrip(os.sep) + os.sep
    for path in files:
        text = str(path)
        rel = text[len(prefix) :] if text.startswith(prefix) else path.name
        where = classify(rel.replace(os.sep, "/"))
        if where.kind is PathKind.TEST:
            left_out.append((rel, where.reason))
        else:
            kept.append(path)
    return kept


def _label_example(finding: Finding) -> Finding:
    """Findings in ``examples/``, ``docs/`` … say so in their subject."""
    where = classify(finding.location.path)
    if where.kind is not PathKind.EXAMPLE:
        return finding
    loc = finding.location
    label = f"example ({where.reason})"
    if loc.subject.startswith(label):
        return finding
    subject = f"{label}: {loc.subject}" if loc.subject else label
    return dataclasses.replace(finding, location=dataclasses.replace(loc, subject=subject))


def _summary(
    findings: Sequence[Finding],
    go: int,
    deploy: int,
    errors: int,
    left_out: Sequence[tuple[str, str]] = (),
) -> str:
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    parts = [
        f"{counts[Severity.ERROR]} errors, {counts[Severity.WARNING]} warnings, "
        f"{counts[Severity.INFO]} info",
        f"{go} Go files and {deploy} deploy files checked",
    ]
    if findings:
        by_rule = Counter(f.rule for f in findings)
        parts.append("by rule: " + ", ".join(f"{r} {n}" for r, n in sorted(by_rule.items())))
    if errors:
        parts.append(f"{errors} Go files skipped for syntax errors")
    if left_out:
        reasons = Counter(reason for _, reason in left_out)
        shown = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common(6))
        more = "" if len(reasons) <= 6 else ", …"
        parts.append(
            f"{len(left_out)} test/tooling files left out as not production "
            f"({shown}{more}); --include-tests judges them"
        )
    return "; ".join(parts)
