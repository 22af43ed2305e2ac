"""The one repository reader: ``read_repo(path, options) -> RepoFacts``.

``check``, ``drill PATH`` (and later ``plan`` and ``fleet``) read a repository through
here, so every command sees the same files and the same limits: the walk (git's file list
or the .gitignore subset, vendor/ and testdata/ skipped), ``.killproof.yaml`` and its
excludes, the production scope (test and tooling trees left out), the Go programs, and the
deploy files with kustomize overlays built and every launch linked to the program it runs.

The Go side parses each package where its rules run (the trees stay in the worker that
parsed them), so :attr:`RepoFacts.go` already carries the KP1xx findings; the deploy rules
run on :attr:`RepoFacts.deploy` afterwards (:func:`~killproof.check.deploy.judge_deploy`).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from killproof.check.deploy import DeployRead, read_deploy
from killproof.check.results import GoResult
from killproof.check.scope import PathKind, ci_only_dirs, classify, test_env_files
from killproof.check.walk import walk
from killproof.config import ProjectConfig, excluded, load_project_config
from killproof.errors import InputError
from killproof.model import Severity, Skipped


@dataclass(frozen=True)
class RepoOptions:
    """How to read: worker processes for the Go side (0 = one per CPU); whether test and
    tooling trees are read (None: ``include_tests`` of ``.killproof.yaml``, else no);
    ``config``: a ``.killproof.yaml`` to use instead of the root's own; ``exclude``: globs
    of files not to read (added to the config's); ``shown``: the root as the user gave it
    (exclude globs may be written through it: ``svc-a/gen/*.go``)."""

    jobs: int = 0
    include_tests: bool | None = None
    config: Path | None = None
    exclude: tuple[str, ...] = ()
    shown: str = ""


@dataclass(frozen=True)
class RepoFacts:
    """Everything read from one root, before the deploy rules run."""

    path: Path
    """The path as given (a directory, or one file)."""
    root: Path
    """The directory findings are relative to (resolved)."""
    config: ProjectConfig
    go: GoResult
    """Go programs, and the KP1xx findings and skipped files of the Go side."""
    deploy: DeployRead
    """Deploy files read, kustomizations built, launches linked to ``go.programs``."""
    unreadable: tuple[Skipped, ...] = ()
    """Directories the walk could not list (KP001 failures)."""
    left_out: tuple[tuple[str, str], ...] = ()
    """(root-relative path, reason) of test and tooling files left out of scope."""


def read_repo(path: Path, options: RepoOptions = RepoOptions()) -> RepoFacts:
    """Read ``path`` (a directory, or one file and its directory's config): see the module
    docstring. Raises :class:`InputError` when ``path`` does not exist."""
    if not path.exists():
        raise InputError("no such file or directory", str(path))
    root = path.resolve() if path.is_dir() else path.resolve().parent
    config = load_project_config(root, options.config)
    if options.include_tests is not None:
        config = dataclasses.replace(config, include_tests=options.include_tests)
    walked = walk(path)
    globs = (*config.exclude, *options.exclude)
    go_files = _kept(root, options.shown, walked.go_files, globs)
    other_files = _kept(root, options.shown, walked.other_files, globs)
    left_out: list[tuple[str, str]] = []
    if path.is_dir() and not config.include_tests:
        ci_only = ci_only_dirs(root, other_files)
        test_env = test_env_files(root, other_files)
        go_files = _production(root, go_files, left_out, ci_only)
        other_files = _production(root, other_files, left_out, ci_only, test_env)
    go = GoResult()
    if go_files:
        # tree-sitter and the process pool load only when there is Go to read
        from killproof.check.go import check_go

        go = check_go(root, go_files, options.jobs, config.include_tests)
    deploy = read_deploy(root, other_files, go.programs, None, config)
    left_out += deploy.files.left_out
    unreadable = tuple(Skipped(w, why, w, 0, Severity.ERROR) for w, why in walked.unreadable)
    return RepoFacts(path, root, config, go, deploy, unreadable, tuple(left_out))


def joined(shown: str, rel: str) -> str:
    """``rel`` (POSIX, root-relative) as seen from the current directory, through the
    root as it was given (``shown``; empty or ``.`` for the current directory)."""
    if not shown or shown == os.curdir:
        return rel
    return posixpath.normpath(posixpath.join(shown.replace(os.sep, "/"), rel))


def _kept(root: Path, shown: str, files: Sequence[Path], globs: Sequence[str]) -> list[Path]:
    """``files`` minus those an exclude glob matches (as root-relative paths, or as the
    paths printed: ``svc-a/gen/*.go`` and ``gen/*.go`` both exclude svc-a's gen/)."""
    if not globs:
        return list(files)
    kept: list[Path] = []
    for path in files:
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        if not any(excluded(joined(shown, rel), g) or excluded(rel, g) for g in globs):
            kept.append(path)
    return kept


def _production(
    root: Path,
    files: list[Path],
    left_out: list[tuple[str, str]],
    ci_only: frozenset[str],
    test_env: frozenset[str] = frozenset(),
) -> list[Path]:
    """The files below ``root`` that are production code; the others go to ``left_out``
    as (root-relative path, reason). ``ci_only``: directories of programs only CI runs;
    ``test_env``: compose files a Makefile test target starts."""
    kept: list[Path] = []
    prefix = str(root).rstrip(os.sep) + os.sep
    for path in files:
        text = str(path)
        rel = text[len(prefix) :] if text.startswith(prefix) else path.name
        where = classify(rel.replace(os.sep, "/"), ci_only, test_env)
        if where.kind is PathKind.TEST:
            left_out.append((rel, where.reason))
        else:
            kept.append(path)
    return kept
