"""``//killproof:ignore KP109[,KP110] reason`` comments in Go files, as the
:class:`~killproof.suppression.Suppression` every file kind shares."""

from __future__ import annotations

import re

import tree_sitter as ts

from killproof.sources.golang.parse import go_language
from killproof.sources.golang.syntax import line_col, text
from killproof.suppression import MARKER, Suppression

_DIRECTIVE = re.compile(
    r"^//\s*killproof:ignore(?P<sep>\s+|$)(?P<ids>KP[0-9]{3}(?:\s*,\s*KP[0-9]{3})*)?(?P<rest>.*)$"
)


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


def file_suppressions(source: bytes, root: ts.Node, path: str) -> list[Suppression]:
    """Every directive in the file at ``path`` (the comment nodes are only looked for when
    the marker's bytes occur at all). A directive covers its own line and the next one."""
    if MARKER.encode() not in source:
        return []
    out: list[Suppression] = []
    lines: list[bytes] | None = None
    captures = ts.QueryCursor(ts.Query(go_language(), "(comment) @c")).captures(root)
    for node in captures.get("c", []):
        body = text(node)
        if MARKER not in body:
            continue
        parsed = parse_directive(body)
        if parsed is None:
            continue
        line, col = line_col(node)
        lines = lines if lines is not None else source.split(b"\n")
        own = lines[line - 1].decode("utf-8", "replace").strip() if line <= len(lines) else ""
        out.append(Suppression(path, line, line + 1, parsed[0], parsed[1], own, col))
    return out
