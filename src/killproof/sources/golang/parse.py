"""Parsing one Go file with tree-sitter-go: the tree, or the reason it cannot be used.

The parser is created once per process (tree-sitter parsers are not picklable, so each
worker process builds its own). A file that does not parse cleanly is skipped with the
position of its first syntax error, never guessed at.

tree-sitter-go 0.25 (the newest build on PyPI) predates Go 1.26, whose builtin ``new``
also takes an expression (``new(42)``, ``new(f())``); its grammar accepts only a type
there. Such calls are read by parsing the file once more with those ``new`` identifiers
renamed to a same-length placeholder, so every byte offset stays where it was. A file
that still does not parse is reported as unreadable by this parser (not as invalid Go:
it may be newer Go than the grammar knows).
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
        return (
            f"this parser cannot read line {self.line}, column {self.column} "
            f"({self.what}): not Go, or Go syntax newer than tree-sitter-go knows"
        )


def is_generated(source: bytes) -> bool:
    """True when the file carries the ``// Code generated … DO NOT EDIT.`` marker."""
    if source.startswith(b"package"):
        return False
    pkg = source.find(b"\npackage ")
    head = source[:pkg] if pkg >= 0 else source
    return _GENERATED.search(head) is not None


def parse(source: bytes) -> ts.Tree:
    """Parse Go source bytes (always returns a tree; check :func:`syntax_problem`).

    When the first tree has errors and calls ``new``, the Go 1.26 ``new(expr)`` form is
    tried (see the module docstring); the second tree is kept only if it is clean.
    """
    tree = _parser().parse(source)
    if not tree.root_node.has_error or b"new" not in source:
        return tree
    return _with_new_expressions(source, tree) or tree


# Same length as `new` so every node keeps its byte offsets, line and column; a name no
# Go code spells by hand (a leading and a trailing underscore).
NEW_PLACEHOLDER = b"_n_"


def _new_identifiers(tree: ts.Tree) -> list[ts.Node]:
    """Every ``new`` identifier (what a call of the builtin names), errors included."""
    out: list[ts.Node] = []
    cursor = tree.root_node.walk()
    while True:
        node = cursor.node
        assert node is not None
        if node.type == "identifier" and node.text == b"new":
            out.append(node)
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return out


def _renamed(source: bytes, starts: list[int]) -> bytes:
    buf = bytearray(source)
    for start in starts:
        buf[start : start + 3] = NEW_PLACEHOLDER
    return bytes(buf)


def _with_new_expressions(source: bytes, tree: ts.Tree) -> ts.Tree | None:
    """The tree of ``source`` read with Go 1.26 ``new(expr)`` calls, or None.

    Renaming every ``new`` turns ``new(42)`` into an ordinary call, but an ordinary call
    cannot take a type such as ``new(map[string]int)``: those (the calls whose argument
    list still has an error after renaming) keep their name in the second try.
    """
    starts = [n.start_byte for n in _new_identifiers(tree)]
    if not starts:
        return None
    renamed = _parser().parse(_renamed(source, starts))
    if not renamed.root_node.has_error:
        return renamed
    expressions: list[int] = []
    for node in _identifiers_at(renamed, set(starts)):
        call = node.parent
        args = call.child_by_field_name("arguments") if call is not None else None
        is_call = call is not None and call.type == "call_expression"
        if is_call and args is not None and not args.has_error:
            expressions.append(node.start_byte)
    if not expressions or len(expressions) == len(starts):
        return None
    again = _parser().parse(_renamed(source, expressions))
    return None if again.root_node.has_error else again


def _identifiers_at(tree: ts.Tree, starts: set[int]) -> list[ts.Node]:
    """The identifiers of ``tree`` that start at one of the byte offsets ``starts``."""
    out: list[ts.Node] = []
    cursor = tree.root_node.walk()
    while True:
        node = cursor.node
        assert node is not None
        if node.type == "identifier" and node.start_byte in starts:
            out.append(node)
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return out


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
