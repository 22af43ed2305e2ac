"""What each half of ``killproof check`` hands back to :mod:`killproof.check.run`: findings,
skipped files with reasons, and (from the Go half) the programs the deploy half links to."""

from __future__ import annotations

from dataclasses import dataclass

from killproof.facts.go_program import GoProgram
from killproof.model import Finding, Skipped


@dataclass(frozen=True)
class GoResult:
    """The Go side's output: findings, skipped files (with reasons) and the programs."""

    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    programs: tuple[GoProgram, ...] = ()
    files_checked: int = 0
    syntax_errors: int = 0
    """Files skipped because they do not parse (each also has a Skipped entry)."""


@dataclass(frozen=True)
class DeployResult:
    """The deploy side's output: findings (KP2xx, KP3xx, KP5xx) and skipped files."""

    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    files_checked: int = 0
    left_out: tuple[tuple[str, str], ...] = ()
    """(root-relative path, reason) of files left out as test code by their header."""
