"""Small helpers over tree-sitter-go nodes: text, positions, calls, enclosing scopes."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

FUNC_TYPES = frozenset({"function_declaration", "method_declaration", "func_literal"})
"""Node types that start a new function body (a new scope for locals and returns)."""


def text(node: ts.Node | None) -> str:
    """The source text of ``node`` ('' for None)."""
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def line_col(node: ts.Node) -> tuple[int, int]:
    """1-based line and column (in bytes, as Go's tools count) of ``node``'s start."""
    row, col = node.start_point
    return row + 1, col + 1


def first_named(node: ts.Node | None) -> ts.Node | None:
    """The first named child of ``node``, or None (the binding raises on a bad index)."""
    if node is None or node.named_child_count == 0:
        return None
    return node.named_child(0)


def unparen(node: ts.Node | None) -> ts.Node | None:
    """``node`` without surrounding parentheses."""
    while node is not None and node.type == "parenthesized_expression":
        node = first_named(node)
    return node


def unary_operand(node: ts.Node | None) -> ts.Node | None:
    """The operand of ``&x`` (or ``node`` itself)."""
    node = unparen(node)
    if node is not None and node.type == "unary_expression":
        return unparen(node.child_by_field_name("operand"))
    return node


def string_value(node: ts.Node | None) -> str | None:
    """The value of a Go string literal (escapes kept as written), else None."""
    node = unparen(node)
    if node is None:
        return None
    if node.type == "interpreted_string_literal":
        return text(node)[1:-1]
    if node.type == "raw_string_literal":
        return text(node)[1:-1]
    return None


def call_parts(call: ts.Node) -> tuple[str, str] | None:
    """For ``x.f(...)`` return ``("x", "f")``; for ``f(...)`` return ``("", "f")``."""
    fn = unparen(call.child_by_field_name("function"))
    if fn is None:
        return None
    if fn.type == "identifier":
        return "", text(fn)
    if fn.type == "selector_expression":
        operand = fn.child_by_field_name("operand")
        field = fn.child_by_field_name("field")
        return text(operand), text(field)
    return None


def call_args(call: ts.Node) -> list[ts.Node]:
    """The named argument nodes of a call expression."""
    args = call.child_by_field_name("arguments")
    if args is None:
        return []
    return [a for a in args.named_children if a.type != "comment"]


def enclosing_function(node: ts.Node) -> ts.Node | None:
    """The nearest function declaration, method declaration or func literal around ``node``."""
    cur = node.parent
    while cur is not None:
        if cur.type in FUNC_TYPES:
            return cur
        cur = cur.parent
    return None


def outermost_function(node: ts.Node) -> ts.Node | None:
    """The top-level function or method declaration that contains ``node``."""
    cur = node.parent
    found = None
    while cur is not None:
        if cur.type in ("function_declaration", "method_declaration"):
            return cur
        if cur.type == "func_literal":
            found = cur
        cur = cur.parent
    return found


def ancestors(node: ts.Node, stop: ts.Node | None = None) -> Iterator[ts.Node]:
    """Parents of ``node`` from nearest outwards, up to (not including) ``stop``."""
    cur = node.parent
    while cur is not None and cur != stop:
        yield cur
        cur = cur.parent


def walk(node: ts.Node, into_funcs: bool = False) -> Iterator[ts.Node]:
    """Every named descendant of ``node`` in source order, not entering nested func
    literals unless ``into_funcs`` (their statements run at another time)."""
    cursor = node.walk()
    depth = 0
    while True:
        cur = cursor.node
        assert cur is not None
        enter = True
        if depth > 0:
            if cur.is_named:
                yield cur
            if cur.type == "func_literal" and not into_funcs:
                enter = False
        if enter and cursor.goto_first_child():
            depth += 1
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return
            depth -= 1
            if depth == 0:
                return


def contains(outer: ts.Node, inner: ts.Node) -> bool:
    """True when ``inner`` lies within ``outer``'s byte range."""
    return outer.start_byte <= inner.start_byte and inner.end_byte <= outer.end_byte


def body_of(func: ts.Node) -> ts.Node | None:
    """The body block of a function declaration, method or func literal."""
    return func.child_by_field_name("body")
