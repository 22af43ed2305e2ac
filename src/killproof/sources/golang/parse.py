"""Parsing one Go file with tree-sitter-go: the tree, or the reason it cannot be used.

The parser is created once per process (tree-sitter parsers are not picklable, so each
worker process builds its own). A file that does not parse cleanly is skipped with the
position of its first syntax error, never guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import tree_sitter as ts
import tree_sitter_go as tsg

# The convention `go generate` tools follow (https://go.dev/s/generatedcode): the marker
# must be a whole line, before the package clause.
_GENERATED = re.compile(rb"^// Code generated .* DO NOT EDIT\.\r?$", re.MULTILINE)


@cache
def go_language() -> ts.Language:
    """The tree-sitter Go language (one per process)."""
    return ts.Language(tsg.language())


@cache
def _parser() -> ts.Parser:
    return ts.Parser(go_language())


@dataclass(frozen=True)
class SyntaxProblem:
    """Where a file stops being Go: 1-based line and column, and what was found there."""

    line: int
    column: int
    what: str

    def reason(self) -> str:
        """The human reason a file was skipped."""
        return f"syntax error at line {self.line}, column {self.column}: {self.what}"


def is_generated(source: bytes) -> bool:
    """True when the file carries the ``// Code generated … DO NOT EDIT.`` marker."""
    if source.startswith(b"package"):
        return False
    pkg = source.find(b"\npackage ")
    head = source[:pkg] if pkg >= 0 else source
    return _GENERATED.search(head) is not None


def parse(source: bytes) -> ts.Tree:
    """Parse Go source bytes (always returns a tree; check :func:`syntax_problem`)."""
    return _parser().parse(source)


def syntax_problem(tree: ts.Tree) -> SyntaxProblem | None:
    """The first ERROR or MISSING node of ``tree``, or None when it parsed cleanly."""
    root = tree.root_node
    if not root.has_error:
        return None
    cursor = root.walk()
    # Descend only into subtrees that contain an error: linear in the error's depth.
    while True:
        node = cursor.node
        assert node is not None
        if node.is_error or node.is_missing:
            kind = f"missing {node.type}" if node.is_missing else "unexpected input"
            row, col = node.start_point
            return SyntaxProblem(row + 1, col + 1, kind)
        descended = False
        if cursor.goto_first_child():
            while True:
                child = cursor.node
                assert child is not None
                if child.has_error or child.is_missing:
                    descended = True
                    break
                if not cursor.goto_next_sibling():
                    break
        if not descended:
            row, col = node.start_point
            return SyntaxProblem(row + 1, col + 1, "unexpected input")
