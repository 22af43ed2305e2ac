"""``//killproof:ignore KP109[,KP110] reason`` comments in Go files."""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.parse import go_language
from killproof.sources.golang.syntax import line_col, text

MARKER = "killproof:ignore"
_DIRECTIVE = re.compile(
    r"^//\s*killproof:ignore(?P<sep>\s+|$)(?P<ids>KP[0-9]{3}(?:\s*,\s*KP[0-9]{3})*)?(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Suppression:
    """One ignore comment: the rule ids it silences, its reason ('' when missing) and its
    position (1-based). It covers findings on its own line and on the next line."""

    rules: frozenset[str]
    reason: str
    line: int
    column: int


def parse_directive(comment: str) -> tuple[frozenset[str], str] | None:
    """``"//killproof:ignore KP109 cache is bounded by the LRU"`` → ids and reason; None
    when the comment is not a directive."""
    lines = comment.strip().splitlines()
    # A `//` comment is one line; only that line can be the directive.
    m = _DIRECTIVE.match(lines[0]) if lines else None
    if m is None:
        return None
    ids = m.group("ids") or ""
    rules = frozenset(i.strip() for i in ids.split(",") if i.strip())
    # A second `//` starts another comment (a tool marker, a TODO): not the reason.
    reason = (m.group("rest") or "").split("//", 1)[0].strip().lstrip("-—:").strip()
    return rules, reason


def file_suppressions(source: bytes, root: ts.Node) -> list[Suppression]:
    """Every directive in a file (the comment nodes are only looked for when the marker's
    bytes occur at all)."""
    if MARKER.encode() not in source:
        return []
    out: list[Suppression] = []
    captures = ts.QueryCursor(ts.Query(go_language(), "(comment) @c")).captures(root)
    for node in captures.get("c", []):
        body = text(node)
        if MARKER not in body:
            continue
        parsed = parse_directive(body)
        if parsed is None:
            continue
        line, col = line_col(node)
        out.append(Suppression(parsed[0], parsed[1], line, col))
    return out


def suppressed_lines(items: list[Suppression]) -> dict[int, frozenset[str]]:
    """Line → rule ids silenced there (the comment's line and the one after it)."""
    out: dict[int, set[str]] = {}
    for s in items:
        for line in (s.line, s.line + 1):
            out.setdefault(line, set()).update(s.rules)
    return {k: frozenset(v) for k, v in out.items()}
