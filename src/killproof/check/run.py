"""``killproof check``: walk → Go checks → deploy checks → one report."""

from __future__ import annotations

import dataclasses
import os
import posixpath
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from killproof.check.copies import merge_copies
from killproof.check.deploy import check_deploy
from killproof.check.facts import GoResult
from killproof.check.scope import PathKind, ci_only_dirs, classify
from killproof.check.suppress import apply_project_config
from killproof.check.walk import walk
from killproof.config import excluded, load_project_config
from killproof.errors import InputError
from killproof.model import Finding, Report, Severity, Skipped, counted, merge_skipped

STDIN = "-"


@dataclass(frozen=True)
class CheckOptions:
    """How to run: worker processes for the Go side (0 = one per CPU); whether test and
    tooling trees are judged (None: ``include_tests`` of ``.killproof.yaml``, else no);
    ``config``: one ``.killproof.yaml`` for every root instead of each root's own;
    ``exclude``: globs of files not to read (added to the config's ``exclude``);
    ``disable``/``enable``: rule ids not to report / the only ones to report."""

    jobs: int = 0
    include_tests: bool | None = None
    config: Path | None = None
    exclude: tuple[str, ...] = ()
    disable: frozenset[str] = frozenset()
    enable: frozenset[str] = frozenset()
    paths_as_given: bool = False
    """True (the CLI): paths print through each root as it was given (``svc-a/main.go``);
    False (library callers with one root): relative to the root (``main.go``)."""


def run_check(
    paths: Sequence[str], options: CheckOptions = CheckOptions(), stdin_text: str | None = None
) -> Report:
    """Check each path (a directory or a file; ``-`` = manifests on stdin for the deploy
    side) and put everything into one report. Paths in findings are the paths as given
    (relative to the current directory when the argument was): ``check svc-a svc-b``
    prints ``svc-a/main.go`` and ``svc-b/main.go``, never one for both."""
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
        shown = raw if path.is_dir() else os.path.dirname(raw)
        shown = shown if options.paths_as_given else ""
        config = load_project_config(root, options.config)
        if options.include_tests is not None:
            config = dataclasses.replace(config, include_tests=options.include_tests)
        walked = walk(path)
        globs = (*config.exclude, *options.exclude)
        go_files = _kept(root, shown, walked.go_files, globs)
        other_files = _kept(root, shown, walked.other_files, globs)
        if path.is_dir() and not config.include_tests:
            ci_only = ci_only_dirs(root, other_files)
            go_files = _production(root, go_files, left_out, ci_only)
            other_files = _production(root, other_files, left_out, ci_only)
        go = GoResult()
        if go_files:
            # tree-sitter and the process pool load only when there is Go to read
            from killproof.check.go import check_go

            go = check_go(root, go_files, options.jobs, config.include_tests)
        deploy = check_deploy(root, other_files, go.programs, None, config)
        left_out += deploy.left_out
        unlisted = [Skipped(w, why, w, 0, Severity.ERROR) for w, why in walked.unreadable]
        not_read, by_design = _split([*unlisted, *go.skipped, *deploy.skipped])
        found = [
            *apply_project_config([*go.findings, *not_read], config),
            *merge_copies(deploy.findings),
        ]
        found = [_label_example(f) for f in found] if path.is_dir() else found
        findings += [_shown_from(shown, f) for f in found]
        skipped += by_design
        go_checked += go.files_checked
        syntax_errors += go.syntax_errors
        deploy_checked += deploy.files_checked
        programs += len(go.programs)
    if use_stdin:
        deploy = check_deploy(Path(os.curdir).resolve(), (), (), stdin_text or "")
        not_read, by_design = _split(deploy.skipped)
        findings += [*deploy.findings, *not_read]
        skipped += by_design
        deploy_checked += deploy.files_checked
    findings = [f for f in findings if _reported(f.rule, options)]
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
        summary=_summary(report_findings, go_checked, deploy_checked, left_out),
    )


def _split(skipped: Sequence[Skipped]) -> tuple[list[Finding], list[Skipped]]:
    """KP001 findings for the files that could not be read; the rest stays skipped work."""
    from killproof.rules.inputs.kp001_file_not_read import RULE as NOT_READ

    failed = [f for s in skipped if s.failure is not None for f in NOT_READ.check(s)]
    return failed, [s for s in skipped if s.failure is None]


def _reported(rule: str, options: CheckOptions) -> bool:
    """False for a rule turned off by ``--disable`` or left out by ``--enable``."""
    if options.enable and rule not in options.enable:
        return False
    return rule not in options.disable


def _kept(root: Path, shown: str, files: Sequence[Path], globs: Sequence[str]) -> list[Path]:
    """``files`` minus those an exclude glob matches (as root-relative paths, or as the
    paths printed: ``svc-a/gen/*.go`` and ``gen/*.go`` both exclude svc-a's gen/)."""
    if not globs:
        return list(files)
    kept: list[Path] = []
    for path in files:
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        if not any(excluded(_joined(shown, rel), g) or excluded(rel, g) for g in globs):
            kept.append(path)
    return kept


def _joined(shown: str, rel: str) -> str:
    """``rel`` (POSIX, root-relative) as seen from the current directory."""
    if not shown or shown == os.curdir:
        return rel
    return posixpath.normpath(posixpath.join(shown.replace(os.sep, "/"), rel))


def _shown_from(shown: str, finding: Finding) -> Finding:
    """The finding with its paths (location and evidence) as seen from the current
    directory, through the root as it was given."""
    if not shown or shown == os.curdir:
        return finding
    loc = finding.location
    location = dataclasses.replace(loc, path=_joined(shown, loc.path)) if loc.path else loc
    evidence = tuple(
        dataclasses.replace(e, path=_joined(shown, e.path)) if e.path else e
        for e in finding.evidence
    )
    return dataclasses.replace(finding, location=location, evidence=evidence)


def _production(
    root: Path, files: list[Path], left_out: list[tuple[str, str]], ci_only: frozenset[str]
) -> list[Path]:
    """The files below ``root`` that are production code; the others go to ``left_out``
    as (root-relative path, reason). ``ci_only``: directories of programs only CI runs."""
    kept: list[Path] = []
    prefix = str(root).rstrip(os.sep) + os.sep
    for path in files:
        text = str(path)
        rel = text[len(prefix) :] if text.startswith(prefix) else path.name
        where = classify(rel.replace(os.sep, "/"), ci_only)
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
    left_out: Sequence[tuple[str, str]] = (),
) -> str:
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    parts = [
        f"{counted(counts[Severity.ERROR], 'error')}, "
        f"{counted(counts[Severity.WARNING], 'warning')}, {counts[Severity.INFO]} info",
        f"{counted(go, 'Go file')} and {counted(deploy, 'deploy file')} checked",
    ]
    if findings:
        by_rule = Counter(f.rule for f in findings)
        parts.append("by rule: " + ", ".join(f"{r} {n}" for r, n in sorted(by_rule.items())))
    if left_out:
        reasons = Counter(reason for _, reason in left_out)
        shown = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common(6))
        more = "" if len(reasons) <= 6 else ", …"
        parts.append(
            f"{counted(len(left_out), 'test/tooling file')} left out as not production "
            f"({shown}{more}); --include-tests judges them"
        )
    return "; ".join(parts)
