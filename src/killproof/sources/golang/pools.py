"""Which ``database/sql`` pools can grow: a pool opened for one call and closed on return
holds at most as many connections as that call uses at once (one, for sequential
queries); a pool on an SQLite file has no database server whose connections it can use up.
"""

from __future__ import annotations

import tree_sitter as ts

from killproof.sources.golang.syntax import (
    call_args,
    enclosing_function,
    string_value,
    text,
    unparen,
    walk,
)

PROCESS_FUNCS = ("main", "init")
"""Functions whose ``defer db.Close()`` runs at exit: their pools live for the process."""

_ESCAPES = (
    "return_statement",
    "keyed_element",
    "literal_element",
    "send_statement",
    "go_statement",
)
"""Where a pool's name makes it outlive the function that opened it."""


def _bound_name(call: ts.Node) -> str | None:
    """The local name an opener's pool is bound to (``db, err := sql.Open(...)``,
    ``db, err = ...``, ``var db, err = ...``); None when it goes anywhere else (a field,
    a package variable's selector, an argument, a return)."""
    exprs = call.parent
    stmt = exprs.parent if exprs is not None else None
    if exprs is None or stmt is None or exprs.type != "expression_list":
        return None
    if stmt.type in ("short_var_declaration", "assignment_statement"):
        if stmt.child_by_field_name("right") != exprs:
            return None
        left = stmt.child_by_field_name("left")
        first = left.named_children[0] if left is not None and left.named_children else None
    elif stmt.type == "var_spec":
        first = stmt.child_by_field_name("name")
    else:
        return None
    if first is None or first.type != "identifier" or text(first) == "_":
        return None
    return text(first)


def _closes(body: ts.Node, name: str) -> bool:
    """True when ``name.Close()`` is called somewhere in ``body`` (deferred or not)."""
    for node in walk(body, into_funcs=True):
        if node.type != "call_expression":
            continue
        fn = unparen(node.child_by_field_name("function"))
        if fn is None or fn.type != "selector_expression":
            continue
        operand = fn.child_by_field_name("operand")
        closes = text(fn.child_by_field_name("field")) == "Close"
        if closes and operand is not None and (operand.type, text(operand)) == ("identifier", name):
            return True
    return False


def _escapes(body: ts.Node, name: str, binding: ts.Node) -> bool:
    """True when the pool named ``name`` may outlive its function: returned, stored in a
    composite literal, sent on a channel, handed to a goroutine, or assigned to another
    name or a field (its use as a call argument or a method operand does not count)."""
    for node in walk(body, into_funcs=True):
        if node.type != "identifier" or text(node) != name:
            continue
        if binding.start_byte <= node.start_byte < binding.end_byte:
            continue
        parent = node.parent
        if parent is not None and parent.type == "selector_expression":
            continue
        for up in _up_to_statement(node, body):
            if up.type in _ESCAPES:
                return True
            if up.type in ("assignment_statement", "short_var_declaration", "var_spec"):
                right = up.child_by_field_name("right") or up.child_by_field_name("value")
                if right is not None and _is_direct_value(right, node):
                    return True
    return False


def _up_to_statement(node: ts.Node, stop: ts.Node) -> list[ts.Node]:
    """Ancestors of ``node`` up to ``stop``, stopping early at a call's argument list
    (what a callee does with an argument is the callee's)."""
    out: list[ts.Node] = []
    cur = node.parent
    while cur is not None and cur != stop:
        if cur.type == "argument_list":
            # A go statement's call still hands the pool to a goroutine.
            while cur is not None and cur != stop:
                if cur.type == "go_statement":
                    out.append(cur)
                    break
                cur = cur.parent
            return out
        out.append(cur)
        cur = cur.parent
    return out


def _is_direct_value(right: ts.Node, ident: ts.Node) -> bool:
    """True when ``ident`` is one of the values on an assignment's right-hand side."""
    return any(unparen(v) == ident for v in right.named_children) or unparen(right) == ident


def is_sqlite(call: ts.Node) -> bool:
    """True when the opener's driver name says SQLite (``"sqlite3"``, ``"sqlite"``, or a
    constant named so): a file database, no server whose connection limit it can reach."""
    args = call_args(call)
    if not args:
        return False
    first = args[0]
    driver = string_value(first) if first.type != "identifier" else text(first)
    return driver is not None and "sqlite" in driver.lower()


def is_per_call_pool(call: ts.Node) -> bool:
    """True when the pool opened by ``call`` lives only for one call of the function that
    opens it: bound to a local name, closed in that function, never returned, stored or
    handed to a goroutine, and the function is not ``main``/``init`` (whose deferred
    ``Close`` runs at exit)."""
    name = _bound_name(call)
    func = enclosing_function(call)
    if name is None or func is None:
        return False
    named = text(func.child_by_field_name("name")) if func.type == "function_declaration" else ""
    if named in PROCESS_FUNCS:
        return False
    body = func.child_by_field_name("body")
    binding = call.parent.parent if call.parent is not None else None
    if body is None or binding is None:
        return False
    return _closes(body, name) and not _escapes(body, name, binding)
