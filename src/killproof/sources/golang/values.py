"""Following a value within a package: what an identifier or a struct field was set to.

Only assignments are followed (``x := e``, ``x = e``, ``var x = e``, ``T{f: e}``,
``v.f = e``); anything else (a parameter, a value from another package) is unknown and
the rules stay silent about it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.memo import memo
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.syntax import first_named, outermost_function, text, unparen, walk

_DEFINING = ("short_var_declaration", "assignment_statement", "var_spec")


@dataclass(frozen=True)
class Assigned:
    """One assignment to a name: ``value`` (None for ``var x T``), the position in a
    multi-value right-hand side (``index``), and the defining statement."""

    value: ts.Node | None
    index: int
    statement: ts.Node
    multi: bool
    """True when ``value`` is a call whose ``index``-th result was taken."""


def statements(block: ts.Node | None) -> list[ts.Node]:
    """The statements of a block (tree-sitter-go wraps them in a ``statement_list``)."""
    if block is None:
        return []
    out: list[ts.Node] = []
    for child in block.named_children:
        if child.type == "statement_list":
            out.extend(c for c in child.named_children if c.type != "comment")
        elif child.type != "comment":
            out.append(child)
    return out


def _sides(stmt: ts.Node) -> tuple[list[ts.Node], list[ts.Node]]:
    if stmt.type == "var_spec":
        names = stmt.children_by_field_name("name")
        value = stmt.child_by_field_name("value")
        return names, value.named_children if value is not None else []
    left = stmt.child_by_field_name("left")
    right = stmt.child_by_field_name("right")
    lhs = left.named_children if left is not None else []
    rhs = right.named_children if right is not None else []
    return lhs, rhs


def assignments_in(stmt: ts.Node) -> Iterator[tuple[ts.Node, Assigned]]:
    """Each (target expression, what it was assigned) of one defining statement."""
    lhs, rhs = _sides(stmt)
    for i, target in enumerate(lhs):
        if len(rhs) == len(lhs):
            yield target, Assigned(rhs[i], i, stmt, False)
        elif len(rhs) == 1:
            yield target, Assigned(rhs[0], i, stmt, True)
        else:
            yield target, Assigned(None, i, stmt, False)


def local_assignments(scope: ts.Node, name: str) -> list[Assigned]:
    """Assignments to the plain identifier ``name`` anywhere in ``scope`` (nested func
    literals included: they share the variable), in source order."""
    return list(_assignment_index(scope).get(name, ()))


@memo
def _assignment_index(scope: ts.Node) -> dict[str, tuple[Assigned, ...]]:
    """Every plain identifier assigned in ``scope``, with its assignments in source
    order: one walk per function, however many identifiers a rule asks about (a
    function of thousands of statements is not walked once per name)."""
    out: dict[str, list[Assigned]] = {}
    for node in walk(scope, into_funcs=True):
        if node.type not in _DEFINING:
            continue
        for target, assigned in assignments_in(node):
            if target.type == "identifier":
                out.setdefault(text(target), []).append(assigned)
    return {k: tuple(v) for k, v in out.items()}


def package_assignments(pkg: GoPackage, name: str) -> list[Assigned]:
    """``var name = …`` at package level."""
    out: list[Assigned] = []
    for _, spec in pkg.package_vars():
        for target, assigned in assignments_in(spec):
            if text(target) == name:
                out.append(assigned)
    return out


def definitions(pkg: GoPackage, ident: ts.Node) -> list[Assigned]:
    """What identifier ``ident`` may hold: local assignments in its function, else the
    package-level ``var`` of that name."""
    name = text(ident)
    func = outermost_function(ident)
    if func is not None:
        local = local_assignments(func, name)
        if local:
            return local
        if _is_parameter(func, name):
            return []
    return package_assignments(pkg, name)


def reaching_definitions(pkg: GoPackage, ident: ts.Node) -> list[Assigned]:
    """The definitions of ``ident`` that may reach it: the last assignment before it
    when that assignment's block holds ``ident`` too, no loop or closure lies between,
    and none comes after it (``req = req.WithContext(ctx)`` overrides ``req, _ :=
    http.NewRequest(…)``); else all of them."""
    defs = definitions(pkg, ident)
    before = [d for d in defs if d.statement.end_byte <= ident.start_byte]
    if not before or len(before) < len(defs):  # one after it may come round in a loop
        return defs
    last = max(before, key=lambda d: d.statement.start_byte)
    block = last.statement.parent
    if block is not None and block.type == "expression_list":  # `var x = …` specs
        block = block.parent
    inside = block is not None and block.start_byte <= ident.start_byte < block.end_byte
    loop = any(a.type in ("for_statement", "func_literal") for a in _between(block, ident))
    return [last] if inside and not loop else defs


def _between(outer: ts.Node | None, inner: ts.Node) -> list[ts.Node]:
    """The ancestors of ``inner`` below ``outer``."""
    out: list[ts.Node] = []
    cur = inner.parent
    while cur is not None and outer is not None and cur.id != outer.id:
        out.append(cur)
        cur = cur.parent
    return out


def _is_parameter(func: ts.Node, name: str) -> bool:
    for field in ("receiver", "parameters"):
        params = func.child_by_field_name(field)
        if params is None:
            continue
        for decl in params.named_children:
            for n in decl.children_by_field_name("name"):
                if text(n) == name:
                    return True
    return False


def field_assignments(pkg: GoPackage, field: str) -> list[Assigned]:
    """Values given to struct field ``field`` anywhere in the package: ``T{field: e}``
    and ``x.field = e``."""
    out: list[Assigned] = []
    needle = field.encode()
    for f in pkg.files:
        if needle not in f.source:
            continue
        for node in walk(f.tree.root_node, into_funcs=True):
            if node.type == "keyed_element":
                key = node.child_by_field_name("key")
                if key is not None and text(key) == field:
                    val = node.child_by_field_name("value")
                    inner = first_named(val) if val is not None else None
                    out.append(Assigned(inner, 0, node, False))
            elif node.type in ("assignment_statement", "short_var_declaration"):
                for target, assigned in assignments_in(node):
                    if target.type == "selector_expression":
                        fld = target.child_by_field_name("field")
                        if fld is not None and text(fld) == field:
                            out.append(assigned)
    return out


def values_of(pkg: GoPackage, expr: ts.Node | None, depth: int = 0) -> list[ts.Node] | None:
    """The expressions ``expr`` may evaluate to, following identifiers and struct fields
    through single-value assignments; None when any path is unknown."""
    expr = unparen(expr)
    if expr is None or depth > 4:
        return None
    if expr.type == "identifier":
        defs = definitions(pkg, expr)
        return _follow(pkg, defs, depth)
    if expr.type == "selector_expression":
        field = expr.child_by_field_name("field")
        operand = expr.child_by_field_name("operand")
        # `pkg.Name` of an imported package is a value from elsewhere: keep it as is.
        if operand is not None and operand.type == "identifier":
            f = pkg.file_of(expr)
            if text(operand) in f.names:
                return [expr]
        defs = field_assignments(pkg, text(field))
        return _follow(pkg, defs, depth)
    return [expr]


def _follow(pkg: GoPackage, defs: list[Assigned], depth: int) -> list[ts.Node] | None:
    if not defs:
        return None
    out: list[ts.Node] = []
    for d in defs:
        if d.value is None or d.multi:
            return None
        more = values_of(pkg, d.value, depth + 1)
        if more is None:
            return None
        out.extend(more)
    return out
