"""``# killproof:ignore KP301 reason`` comments in YAML, Dockerfiles, units and scripts.

An inline comment silences findings on its own line; a comment alone on a line silences
the next non-comment line. A suppression must give a reason: one without is reported as
KP100 ignore-without-reason (the same rule as ``//killproof:ignore`` in Go), and still
silences, so the report shows one problem rather than two.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from killproof.config import ProjectConfig
from killproof.model import Finding

_IGNORE = re.compile(r"#\s*killproof:ignore\b(?P<rest>.*)$")
_IDS = re.compile(
    r"^\s*(?P<ids>(?:KP\d{3}|\*)(?:\s*,\s*(?:KP\d{3}|\*))*)(?P<reason>.*)$", re.IGNORECASE
)


@dataclass(frozen=True)
class Suppression:
    """One ignore comment: where it is, which line it covers, the rule ids and the reason."""

    path: str
    line: int
    covers: int
    rules: frozenset[str]
    reason: str
    text: str


def find_suppressions(text: str, path: str) -> list[Suppression]:
    """Every ``# killproof:ignore`` comment of a hash-commented file."""
    if "killproof:ignore" not in text:
        return []
    lines = text.splitlines()
    out: list[Suppression] = []
    for index, raw in enumerate(lines):
        match = _IGNORE.search(raw)
        if match is None:
            continue
        before = raw[: match.start()].strip()
        covers = index + 1
        if not before:  # own line: covers the next line that is not a comment or blank
            covers = next(
                (
                    j + 1
                    for j in range(index + 1, len(lines))
                    if lines[j].strip() and not lines[j].lstrip().startswith("#")
                ),
                index + 1,
            )
        ids = _IDS.match(match["rest"])
        rules = frozenset(i.strip().upper() for i in ids["ids"].split(",")) if ids else frozenset()
        reason = ids["reason"].strip(" -:—\t") if ids else ""
        out.append(Suppression(path, index + 1, covers, rules, reason, raw.strip()))
    return out


def apply_project_config(findings: Iterable[Finding], config: ProjectConfig) -> list[Finding]:
    """Drop findings ``.killproof.yaml`` ignores (by rule, optionally per path glob) and apply
    its severity overrides. Works for any findings, Go ones included."""
    out = []
    for f in findings:
        if config.ignores(f.rule, f.location.path):
            continue
        severity = config.severity.get(f.rule, f.severity)
        out.append(f if severity is f.severity else dataclasses.replace(f, severity=severity))
    return out
