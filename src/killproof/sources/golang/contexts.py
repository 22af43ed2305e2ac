"""Contexts: where a context.Context came from and whether it carries a deadline."""

from __future__ import annotations

import enum
import re

import tree_sitter as ts

from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.syntax import call_args, text, unparen
from killproof.sources.golang.values import definitions

CONTEXT = "context"
_UNITS = {
    "Nanosecond": 1e-9,
    "Microsecond": 1e-6,
    "Millisecond": 1e-3,
    "Second": 1.0,
    "Minute": 60.0,
    "Hour": 3600.0,
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


def duration_seconds(pkg: GoPackage, expr: ts.Node | None, depth: int = 0) -> float | None:
    """A literal ``time.Duration`` expression in seconds, None when not literal."""
    expr = unparen(expr)
    if expr is None or depth > 4:
        return None
    if expr.type in ("int_literal", "float_literal"):
        raw = text(expr).replace("_", "")
        return float(raw) * 1e-9 if _NUMBER.match(raw) else None
    if expr.type == "selector_expression":
        q = pkg.file_of(expr).qualified(expr)
        if q is not None and q[0] == "time" and q[1] in _UNITS:
            return _UNITS[q[1]]
        return None
    if expr.type == "call_expression":
        # time.Duration(30): a conversion keeps the number.
        args = call_args(expr)
        fn = text(expr.child_by_field_name("function"))
        if fn.endswith("Duration") and len(args) == 1:
            inner = unparen(args[0])
            if inner is not None and inner.type in ("int_literal", "float_literal"):
                return float(text(inner).replace("_", "")) * 1e-9
        return None
    if expr.type == "identifier":
        defs = [d for d in definitions(pkg, expr) if d.value is not None]
        if len(defs) == 1:
            return duration_seconds(pkg, defs[0].value, depth + 1)
        return None
    if expr.type == "binary_expression" and text(expr.child_by_field_name("operator")) == "*":
        left = expr.child_by_field_name("left")
        right = expr.child_by_field_name("right")
        a = _number_or_duration(pkg, left, depth)
        b = _number_or_duration(pkg, right, depth)
        if a is None or b is None:
            return None
        return a * b * 1e9 if _is_plain_number(left) or _is_plain_number(right) else None
    return None


def _is_plain_number(node: ts.Node | None) -> bool:
    node = unparen(node)
    return node is not None and node.type in ("int_literal", "float_literal")


def _number_or_duration(pkg: GoPackage, node: ts.Node | None, depth: int) -> float | None:
    node = unparen(node)
    if node is not None and node.type in ("int_literal", "float_literal"):
        return float(text(node).replace("_", "")) * 1e-9
    return duration_seconds(pkg, node, depth + 1)
