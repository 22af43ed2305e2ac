"""Contexts: where a context.Context came from and whether it carries a deadline."""

from __future__ import annotations

import enum
import re

import tree_sitter as ts

from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.syntax import call_args, text, unparen
from killproof.sources.golang.values import definitions

CONTEXT = "context"
_UNIT_NANOS = {
    "Nanosecond": 1,
    "Microsecond": 1_000,
    "Millisecond": 1_000_000,
    "Second": 1_000_000_000,
    "Minute": 60_000_000_000,
    "Hour": 3_600_000_000_000,
}
_NUMBER = re.compile(r"^[0-9_]+(?:\.[0-9_]+)?$")


class Deadline(enum.Enum):
    """Whether a context expression has a deadline."""

    NONE = "none"
    """``context.Background()``, ``TODO()``, or only ``WithCancel``/``WithoutCancel`` on them."""
    SET = "set"
    """``WithTimeout``/``WithDeadline`` somewhere in its chain."""
    UNKNOWN = "unknown"
    """A parameter, a value from elsewhere: the rules stay silent."""


def deadline_of(pkg: GoPackage, expr: ts.Node | None, depth: int = 0) -> Deadline:
    """Follow ``expr`` through local assignments to a context constructor."""
    expr = unparen(expr)
    if expr is None or depth > 5:
        return Deadline.UNKNOWN
    if expr.type == "identifier":
        defs = definitions(pkg, expr)
        if not defs:
            return Deadline.UNKNOWN
        results = {deadline_of(pkg, d.value, depth + 1) for d in defs if d.value is not None}
        if len(results) == 1 and len(defs) == sum(1 for d in defs if d.value is not None):
            return results.pop()
        return Deadline.UNKNOWN
    if expr.type != "call_expression":
        return Deadline.UNKNOWN
    target = pkg.file_of(expr).call_target(expr)
    if target is None or target[0] != CONTEXT:
        return Deadline.UNKNOWN
    name = target[1]
    if name in ("Background", "TODO"):
        return Deadline.NONE
    if name.startswith(("WithTimeout", "WithDeadline")):
        return Deadline.SET
    if name in ("WithCancel", "WithCancelCause", "WithValue", "WithoutCancel"):
        args = call_args(expr)
        if name == "WithoutCancel":
            return Deadline.NONE
        return deadline_of(pkg, args[0] if args else None, depth + 1)
    return Deadline.UNKNOWN


def timeout_seconds(pkg: GoPackage, expr: ts.Node | None, depth: int = 0) -> float | None:
    """The timeout of the ``WithTimeout`` a context came from, in seconds, when literal
    (``10*time.Second``, ``time.Duration(30) * time.Second``)."""
    expr = unparen(expr)
    if expr is None or depth > 5:
        return None
    if expr.type == "identifier":
        defs = [d for d in definitions(pkg, expr) if d.value is not None]
        if len(defs) != 1:
            return None
        return timeout_seconds(pkg, defs[0].value, depth + 1)
    if expr.type != "call_expression":
        return None
    target = pkg.file_of(expr).call_target(expr)
    if target is None or target[0] != CONTEXT:
        return None
    args = call_args(expr)
    if target[1].startswith("WithTimeout") and len(args) >= 2:
        return duration_seconds(pkg, args[1])
    if target[1] in ("WithCancel", "WithValue") and args:
        return timeout_seconds(pkg, args[0], depth + 1)
    return None


def duration_seconds(pkg: GoPackage, expr: ts.Node | None) -> float | None:
    """A literal ``time.Duration`` expression in seconds, None when not literal."""
    nanos = _nanos(pkg, expr, 0)
    return None if nanos is None else nanos / 1e9


def _number(node: ts.Node | None) -> float | None:
    node = unparen(node)
    if node is None or node.type not in ("int_literal", "float_literal"):
        return None
    raw = text(node).replace("_", "")
    if not _NUMBER.match(raw):
        return None
    return float(int(raw)) if raw.isdigit() else float(raw)


def _nanos(pkg: GoPackage, expr: ts.Node | None, depth: int) -> float | None:
    """Nanoseconds (Go's Duration unit) of a literal duration expression."""
    expr = unparen(expr)
    if expr is None or depth > 4:
        return None
    number = _number(expr)
    if number is not None:
        return number
    if expr.type == "selector_expression":
        q = pkg.file_of(expr).qualified(expr)
        if q is not None and q[0] == "time" and q[1] in _UNIT_NANOS:
            return float(_UNIT_NANOS[q[1]])
        return None
    if expr.type == "call_expression":
        # time.Duration(30): a conversion keeps the number.
        args = call_args(expr)
        fn = text(expr.child_by_field_name("function"))
        if fn.endswith("Duration") and len(args) == 1:
            return _number(args[0])
        return None
    if expr.type == "identifier":
        defs = [d for d in definitions(pkg, expr) if d.value is not None]
        if len(defs) == 1:
            return _nanos(pkg, defs[0].value, depth + 1)
        return None
    if expr.type == "binary_expression":
        op = text(expr.child_by_field_name("operator"))
        left = _nanos(pkg, expr.child_by_field_name("left"), depth + 1)
        right = _nanos(pkg, expr.child_by_field_name("right"), depth + 1)
        if left is None or right is None:
            return None
        if op == "*":
            return left * right
        if op == "+":
            return left + right
        if op == "/" and right:
            return left / right
    return None
