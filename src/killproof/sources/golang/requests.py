"""Which code runs per request: handlers (by signature or by registration with net/http,
gorilla/mux, chi, gin, echo) and every package function they call, transitively."""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.query import is_serving_import
from killproof.sources.golang.syntax import (
    FUNC_TYPES,
    call_args,
    call_parts,
    first_named,
    outermost_function,
    string_value,
    text,
    unparen,
    walk,
)

ROUTE_METHODS = frozenset(
    {
        *("HandleFunc", "Handle", "Get", "Post", "Put", "Delete", "Patch", "Head"),
        *("Options", "Method", "Any", "GET", "POST", "PUT", "DELETE", "PATCH"),
        *("HEAD", "OPTIONS"),
    }
)
"""Router methods whose first argument is a path and whose later arguments are handlers."""

_ROUTE = re.compile(r"^(?:[A-Z]+\s+)?(?:[^/\s]*)(?P<path>/\S*)$")
_VERSION_SUFFIX = re.compile(r"/v[0-9]+$")

_HANDLER_TYPES = {
    ("net/http", "ResponseWriter"),
    ("net/http", "Request"),
    ("github.com/gin-gonic/gin", "Context"),
    ("github.com/labstack/echo", "Context"),
    ("github.com/gofiber/fiber", "Ctx"),
}


def _unversioned(path: str) -> str:
    return _VERSION_SUFFIX.sub("", path)


def route_path(node: ts.Node | None) -> str | None:
    """The URL path of a route pattern literal (``"/orders"``, ``"GET /orders/{id}"``)."""
    value = string_value(node)
    if value is None:
        return None
    m = _ROUTE.match(value)
    return m.group("path") if m else None


@dataclass(frozen=True)
class Route:
    """One registration: the URL path, the registering call and the handler expressions."""

    path: str
    call: ts.Node
    file: GoFile
    handlers: tuple[ts.Node, ...]


def routes(pkg: GoPackage) -> list[Route]:
    """Every route registered in the package, on any router."""
    out: list[Route] = []
    for f, call in pkg.selector_calls(*ROUTE_METHODS):
        args = call_args(call)
        if len(args) < 2:
            continue
        path = route_path(args[0])
        if path is None:
            continue
        out.append(Route(path, call, f, tuple(args[1:])))
    return out


def _is_handler_signature(f: GoFile, param: ts.Node) -> bool:
    typ = param.child_by_field_name("type")
    if typ is not None and typ.type == "pointer_type":
        typ = first_named(typ)
    q = f.qualified(typ)
    return q is not None and (_unversioned(q[0]), q[1]) in _HANDLER_TYPES


def handler_functions(pkg: GoPackage) -> list[ts.Node]:
    """Functions and func literals that serve a request: by signature, by registration,
    or as a ``ServeHTTP`` method."""
    seeds: dict[int, ts.Node] = {}
    if not any(is_serving_import(i.path) for f in pkg.files for i in f.imports):
        return []
    for f, param in pkg.captured("param"):
        plist = param.parent
        func = plist.parent if plist is not None else None
        if func is None or func.type not in FUNC_TYPES:
            continue
        if func.child_by_field_name("receiver") == plist:
            continue
        if _is_handler_signature(f, param):
            seeds[func.id] = func
    for route in routes(pkg):
        for h in route.handlers:
            for func in _referenced_functions(pkg, h):
                seeds[func.id] = func
    for _, decl in pkg.functions.get("ServeHTTP", []):
        seeds[decl.id] = decl
    return list(seeds.values())


def _referenced_functions(pkg: GoPackage, expr: ts.Node, depth: int = 0) -> list[ts.Node]:
    expr_u = unparen(expr)
    if expr_u is None or depth > 2:
        return []
    if expr_u.type == "func_literal":
        return [expr_u]
    if expr_u.type == "identifier":
        return [d for _, d in pkg.functions.get(text(expr_u), [])]
    if expr_u.type == "selector_expression":
        name = text(expr_u.child_by_field_name("field"))
        return [d for _, d in pkg.functions.get(name, []) if d.type == "method_declaration"]
    if expr_u.type == "call_expression":
        out: list[ts.Node] = []
        for arg in call_args(expr_u):
            out.extend(_referenced_functions(pkg, arg, depth + 1))
        return out
    return []


def _receiver(func: ts.Node) -> tuple[str, str] | None:
    """(receiver name, receiver type name) of a method declaration."""
    if func.type != "method_declaration":
        return None
    params = func.child_by_field_name("receiver")
    decl = params.named_children[0] if params is not None and params.named_children else None
    if decl is None:
        return None
    name = decl.child_by_field_name("name")
    typ = decl.child_by_field_name("type")
    base = text(typ).lstrip("*").split("[", 1)[0]
    return (text(name), base) if name is not None else None


class RequestPaths:
    """The set of functions reachable from a handler within the package (by name)."""

    def __init__(self, pkg: GoPackage) -> None:
        self.seeds = handler_functions(pkg)
        self._ids: set[int] = set()
        todo = list(self.seeds)
        while todo:
            func = todo.pop()
            if func.id in self._ids:
                continue
            self._ids.add(func.id)
            caller = pkg.file_of(func)
            outer = outermost_function(func) if func.type == "func_literal" else func
            receiver = _receiver(outer) if outer is not None else None
            for node in walk(func, into_funcs=True):
                if node.type == "func_literal":
                    self._ids.add(node.id)
                if node.type != "call_expression":
                    continue
                parts = call_parts(node)
                if parts is None:
                    continue
                operand, name = parts
                if operand in caller.names:
                    continue
                # `f()` is a package function; `s.m()` is followed only when s is the
                # method's own receiver (its type is known: the same type's method m).
                if operand and (receiver is None or operand != receiver[0]):
                    continue
                for _, decl in pkg.functions.get(name, []):
                    if operand:
                        if decl.type != "method_declaration" or receiver is None:
                            continue
                        decl_receiver = _receiver(decl)
                        if decl_receiver is None or decl_receiver[1] != receiver[1]:
                            continue
                    elif decl.type == "method_declaration":
                        continue
                    if decl.id not in self._ids:
                        todo.append(decl)

    @property
    def any(self) -> bool:
        """True when the package serves requests at all."""
        return bool(self.seeds)

    def contains(self, node: ts.Node) -> bool:
        """True when ``node`` runs inside a function on a request path."""
        cur: ts.Node | None = node
        while cur is not None:
            if cur.type in FUNC_TYPES and cur.id in self._ids:
                return True
            cur = cur.parent
        return False
