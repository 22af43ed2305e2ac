"""``killproof:ignore`` comments, read into one :class:`Suppression` value for every file kind
(a bottom module like :mod:`killproof.model`: it imports nothing of killproof).

``//killproof:ignore KP109 reason`` in Go (found by :mod:`killproof.sources.golang.suppress`
among the comment nodes), ``# killproof:ignore KP301 reason`` in YAML, Dockerfiles, units and
scripts (found here). The decision of what they silence is made once, for every family, by
:func:`killproof.rules.suppress.decide`; a suppression without a rule id or a reason is a KP100
finding (:mod:`killproof.rules.go.kp100_ignore_without_reason`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MARKER = "killproof:ignore"

_IGNORE = re.compile(r"#\s*killproof:ignore\b(?P<rest>.*)$")
_IDS = re.compile(
    r"^\s*(?P<ids>(?:KP\d{3}|\*)(?:\s*,\s*(?:KP\d{3}|\*))*)(?P<reason>.*)$", re.IGNORECASE
)


@dataclass(frozen=True)
class Suppression:
    """One ignore comment: where it is (root-relative POSIX path, 1-based line and column;
    column 0 when unknown), the line it covers besides its own, the rule ids it silences
    (``*``: all), its reason (``''`` when missing) and the text of its line."""

    path: str
    line: int
    covers: int
    rules: frozenset[str]
    reason: str
    text: str
    column: int = 0


def find_suppressions(text: str, path: str) -> list[Suppression]:
    """Every ``# killproof:ignore`` comment of a hash-commented file. An inline comment
    covers its own line; a comment alone on a line also covers the next line that is not
    blank or a comment."""
    if MARKER not in text:
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


def silenced_lines(items: Iterable[Suppression]) -> dict[tuple[str, int], frozenset[str]]:
    """(path, line) → the rule ids silenced there (each comment's own line and the line it
    covers)."""
    out: dict[tuple[str, int], frozenset[str]] = {}
    for s in items:
        for line in {s.line, s.covers}:
            out[(s.path, line)] = out.get((s.path, line), frozenset()) | s.rules
    return out
