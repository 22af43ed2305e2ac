"""Walking a repository: which files ``killproof check`` reads.

Inside a git work tree the file list comes from ``git ls-files --cached --others
--exclude-standard`` (git's own .gitignore semantics); elsewhere a pure walk applies the
common .gitignore subset (``#`` comments, ``!`` negation, ``/`` anchoring, trailing ``/``
for directories, ``*``/``?``/``**`` globs). vendor/, testdata/, .git and node_modules are
always skipped; Go files marked generated are skipped later, when they are read.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset({"vendor", "testdata", ".git", "node_modules"})


@dataclass(frozen=True)
class WalkResult:
    """The files found under a root, split into Go sources and everything else."""

    go_files: tuple[Path, ...]
    other_files: tuple[Path, ...]
    unreadable: tuple[tuple[str, str], ...] = ()
    """(directory, reason) for directories that could not be listed."""


@dataclass(frozen=True)
class IgnoreRule:
    """One .gitignore line, relative to the directory of its file (``base``, POSIX)."""

    base: str
    pattern: str
    negate: bool
    dir_only: bool
    anchored: bool

    def matches(self, rel: str, is_dir: bool) -> bool:
        """True when this rule matches ``rel`` (POSIX, relative to the walk root)."""
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not rel.startswith(self.base + "/"):
                return False
            rel = rel[len(self.base) + 1 :]
        if self.anchored:
            return _glob(self.pattern, rel)
        name = rel.rsplit("/", 1)[-1]
        return _glob(self.pattern, name) or _glob("**/" + self.pattern, rel)


def _glob(pattern: str, path: str) -> bool:
    if "**" in pattern:
        head, _, tail = pattern.partition("**/")
        if head and not path.startswith(head):
            return False
        rest = path[len(head) :]
        parts = rest.split("/")
        return any(_glob(tail, "/".join(parts[i:])) for i in range(len(parts)))
    if pattern.count("/") != path.count("/"):
        return False
    return all(
        fnmatch.fnmatchcase(p, q) for p, q in zip(path.split("/"), pattern.split("/"), strict=True)
    )


def parse_gitignore(text: str, base: str = "") -> list[IgnoreRule]:
    """The rules of one .gitignore file found in directory ``base``."""
    rules: list[IgnoreRule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        if line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if not line:
            continue
        rules.append(IgnoreRule(base, line, negate, dir_only, anchored))
    return rules


def ignored(rules: Sequence[IgnoreRule], rel: str, is_dir: bool) -> bool:
    """Git's rule: the last matching pattern wins."""
    verdict = False
    for rule in rules:
        if rule.matches(rel, is_dir):
            verdict = not rule.negate
    return verdict


def walk(root: Path) -> WalkResult:
    """Every file under ``root`` that is not ignored, split by kind."""
    root = root.resolve()
    errors: list[tuple[str, str]] = []
    if root.is_file():
        files = [root]
    else:
        listed = _git_files(root)
        files = listed if listed is not None else _pure_walk(root, errors)
    go: list[Path] = []
    other: list[Path] = []
    for p in sorted(files):
        rel_parts = p.relative_to(root).parts if p != root else (p.name,)
        if any(part in SKIP_DIRS for part in rel_parts[:-1]):
            continue
        (go if p.suffix == ".go" else other).append(p)
    return WalkResult(tuple(go), tuple(other), tuple(errors))


# The checked tree is not trusted, and its .git/config may name commands: an fsmonitor
# hook (run by ls-files), hooks, a pager, an ssh command, diff and merge drivers. These
# settings override every config file; none of them is needed to list files.
_GIT_SAFE = (
    "-c", "core.fsmonitor=false", "-c", "core.useBuiltinFSMonitor=false",
    "-c", "core.hooksPath=/dev/null", "-c", "core.pager=cat", "-c", "core.sshCommand=",
    "-c", "core.gitProxy=", "-c", "core.askPass=", "-c", "credential.helper=",
    "-c", "diff.external=", "-c", "core.untrackedCache=false",
    "--no-pager", "--no-optional-locks",
)  # fmt: skip


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``git ARGS`` in ``root`` with every repository-controlled helper turned off."""
    return subprocess.run(
        ["git", *_GIT_SAFE, *args],
        cwd=root,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )


def _git_files(root: Path) -> list[Path] | None:
    """git's own list, or None outside a work tree or when git ignores ``root`` itself
    (a checked-out SDK under an ignored .venv is still worth checking)."""
    try:
        inside = _git(root, "check-ignore", "-q", ".")
        if inside.returncode == 0:
            return None
        proc = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    out: list[Path] = []
    for name in proc.stdout.split(b"\0"):
        if name:
            rel = os.fsdecode(name)
            if rel.startswith("/") or ".." in rel.split("/"):
                continue  # git lists paths below the working directory; anything else is odd
            p = root / rel
            if p.is_file():
                out.append(p)
    return out


def _pure_walk(root: Path, errors: list[tuple[str, str]]) -> list[Path]:
    out: list[Path] = []
    rules: list[IgnoreRule] = []

    def unreadable(exc: OSError) -> None:
        where = Path(exc.filename or root)
        rel = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
        errors.append((rel or ".", f"cannot list directory: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        d = Path(dirpath)
        rel_dir = "" if d == root else d.relative_to(root).as_posix()
        if ".gitignore" in filenames:
            text = _small_text(d / ".gitignore")
            rules = [*rules, *parse_gitignore(text, rel_dir)]
        keep = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name in SKIP_DIRS or ignored(rules, rel, True):
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if not ignored(rules, rel, False) and (d / name).is_file():
                out.append(d / name)
    return out


def _small_text(path: Path, limit: int = 1 << 20) -> str:
    """A regular file's first ``limit`` bytes as text; empty for anything else (a FIFO or
    a link to /dev/zero named .gitignore must not hang or fill memory)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""
