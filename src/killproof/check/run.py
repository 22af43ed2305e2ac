"""``killproof check``: walk → Go checks → deploy checks → one report."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from killproof.check.copies import merge_copies
from killproof.check.deploy import check_deploy, judge_deploy
from killproof.check.repo import RepoOptions, joined, read_repo
from killproof.check.scope import PathKind, classify
from killproof.errors import InputError
from killproof.model import Finding, Report, Severity, Skipped, counted, merge_skipped
from killproof.rules.suppress import decide

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
        shown = raw if path.is_dir() else os.path.dirname(raw)
        shown = shown if options.paths_as_given else ""
        repo = read_repo(path, _repo_options(options, shown))
        go, config = repo.go, repo.config
        deploy = judge_deploy(repo.deploy, config)
        left_out += repo.left_out
        not_read, by_design = _split([*repo.unreadable, *go.skipped, *deploy.skipped])
        found = [
            *decide([*go.findings, *not_read], config=config),
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


def _repo_options(options: CheckOptions, shown: str) -> RepoOptions:
    """What the repository reader needs of the check's options."""
    return RepoOptions(
        jobs=options.jobs,
        include_tests=options.include_tests,
        config=options.config,
        exclude=options.exclude,
        shown=shown,
    )


def _shown_from(shown: str, finding: Finding) -> Finding:
    """The finding with its paths (location and evidence) as seen from the current
    directory, through the root as it was given."""
    if not shown or shown == os.curdir:
        return finding
    loc = finding.location
    location = dataclasses.replace(loc, path=joined(shown, loc.path)) if loc.path else loc
    evidence = tuple(
        dataclasses.replace(e, path=joined(shown, e.path)) if e.path else e
        for e in finding.evidence
    )
    return dataclasses.replace(finding, location=location, evidence=evidence)


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
