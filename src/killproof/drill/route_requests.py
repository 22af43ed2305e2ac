"""The requests a zero-config ``drill PATH`` may send, read from the Go code's routes.

A route the code registers (``http.HandleFunc("/orders", …)``, ``r.Get("/users/{id}", …)``)
becomes a template: each path variable (``{id}``, ``:id``, ``*rest``) and each query
parameter the handler reads (``r.URL.Query().Get("id")``, ``r.FormValue("k")``, gin's
``c.Query("k")``, echo's ``c.QueryParam("k")``) is set to the request counter ``{n}``, so
the load spreads over distinct keys the way real traffic does — and a per-key cache or map
grows as it would in production. ``GET /orders`` with no ``id`` is a 400, and ``GET /hello``
with no ``?k=`` never grows a map keyed by ``k``.

The drill tries the candidates in order and loads the first one the service answers with a
2xx (:mod:`killproof.drill.run`). Pure but for reading the package's ``.go`` files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tree_sitter as ts

from killproof.drill.request_source import RequestSource, RequestTemplate
from killproof.sources.golang.package import GoFile, GoPackage, build_file
from killproof.sources.golang.parse import parse
from killproof.sources.golang.requests import routes
from killproof.sources.golang.syntax import call_args, call_parts, string_value, text, unparen, walk

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/health", "/ready", "/metrics"})
"""Paths that answer health checks: loaded only when nothing else answers 2xx."""

# Calls whose first string argument names a query parameter, by method name.
_QUERY_READERS = frozenset({"FormValue", "Query", "DefaultQuery", "QueryParam", "GetQuery"})
# Router methods that register a route for a method other than GET.
_NOT_GET = frozenset({"Post", "Put", "Delete", "Patch", "POST", "PUT", "DELETE", "PATCH"})
_PATTERN_METHOD = re.compile(r"^\s*([A-Z]+)\s+/")
_PATH_VAR = re.compile(r"\{[^}/]*\}|(?<=/):[^/]+|(?<=/)\*[^/]*")


@dataclass(frozen=True)
class RouteCandidate:
    """One request the drill may send, and why: a code route or a probe path."""

    template: RequestTemplate
    origin: str
    """``a route found in the code, examples/orders/main.go:28, reading ?id``."""

    def source(self) -> RequestSource:
        """This candidate as the drill's request source."""
        return RequestSource((self.template,), self.origin)


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when under it (as ``check`` prints)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _package(main_dir: Path) -> GoPackage | None:
    files: list[GoFile] = []
    for path in sorted(main_dir.glob("*.go")):
        if path.name.endswith("_test.go"):
            continue
        try:
            source = path.read_bytes()
        except OSError:
            continue
        files.append(build_file(path.name, source, parse(source)))
    if not files:
        return None
    return GoPackage(str(main_dir), "main", files)


def _bodies(pkg: GoPackage, handler: ts.Node, depth: int = 0) -> list[ts.Node]:
    """The function nodes whose code serves this handler expression: a func literal, a
    named function, or the function that builds and returns the handler."""
    node = unparen(handler)
    if node is None or depth > 2:
        return []
    if node.type == "func_literal":
        return [node]
    if node.type == "identifier":
        return [d for _, d in pkg.functions.get(text(node), [])]
    if node.type == "selector_expression":
        name = text(node.child_by_field_name("field"))
        return [d for _, d in pkg.functions.get(name, [])]
    if node.type == "call_expression":
        # http.HandlerFunc(f), mw(f), or makeHandler(deps) returning a func literal.
        out = _bodies(pkg, node.child_by_field_name("function") or node, depth + 1)
        for arg in call_args(node):
            out.extend(_bodies(pkg, arg, depth + 1))
        return out
    return []


def _called(pkg: GoPackage, body: ts.Node) -> list[ts.Node]:
    """Package functions called directly from ``body`` (one level: helpers that parse)."""
    out: list[ts.Node] = []
    for node in walk(body, into_funcs=True):
        if node.type == "call_expression":
            parts = call_parts(node)
            if parts is not None and parts[0] == "":
                out.extend(d for _, d in pkg.functions.get(parts[1], []))
    return out


def query_params(pkg: GoPackage, handlers: tuple[ts.Node, ...]) -> tuple[str, ...]:
    """Names of the query parameters the handlers read, in order of first reading."""
    bodies = [b for h in handlers for b in _bodies(pkg, h)]
    bodies += [c for b in list(bodies) for c in _called(pkg, b)]
    names: list[str] = []
    for body in bodies:
        # Variables holding url.Values: `q := r.URL.Query()`.
        values = {
            text(n.child_by_field_name("left")).strip()
            for n in walk(body, into_funcs=True)
            if n.type in ("short_var_declaration", "assignment_statement")
            and text(n.child_by_field_name("right")).strip().endswith("Query()")
        }
        for node in walk(body, into_funcs=True):
            if node.type != "call_expression":
                continue
            parts = call_parts(node)
            args = call_args(node)
            if parts is None or not args:
                continue
            operand, method = parts
            name = string_value(args[0])
            if name is None or not name:
                continue
            reads = method in _QUERY_READERS or (
                method == "Get" and (operand.endswith("Query()") or operand in values)
            )
            if reads and name not in names:
                names.append(name)
    return tuple(names)


def _varied_path(path: str) -> str:
    """``/users/{id}/orders/:oid`` → ``/users/{n}/orders/{n}`` (every path variable)."""
    return _PATH_VAR.sub("{n}", path)


def _method(route_call: ts.Node) -> str | None:
    """GET for a route that answers GET; None for a POST/PUT/… registration."""
    parts = call_parts(route_call)
    if parts is not None and parts[1] in _NOT_GET:
        return None
    args = call_args(route_call)
    pattern = string_value(args[0]) if args else None
    m = _PATTERN_METHOD.match(pattern or "")
    if m is not None and m.group(1) not in ("GET", "HEAD"):
        return None
    return "GET"


def route_candidates(main_dir: Path) -> tuple[RouteCandidate, ...]:
    """Requests to try, best first: routes that read a key (query or path variable), then
    other routes, then probe paths; ``/`` last. Never empty."""
    pkg = _package(main_dir)
    keyed: list[RouteCandidate] = []
    plain: list[RouteCandidate] = []
    probes: list[RouteCandidate] = []
    seen: set[str] = set()
    for route in sorted(routes(pkg), key=lambda r: r.path) if pkg is not None else []:
        if route.path.startswith("/debug/") or _method(route.call) is None:
            continue
        path = _varied_path(route.path.rstrip("/") or "/")
        params = query_params(pkg, route.handlers) if pkg is not None else ()
        query = "&".join(f"{p}={{n}}" for p in params)
        full = f"{path}?{query}" if query else path
        if full in seen:
            continue
        seen.add(full)
        line = route.call.start_point[0] + 1
        keys = [*(f"?{p}" for p in params), *(["a path variable"] if path != route.path else [])]
        reads = f", reading {' and '.join(keys)}" if keys else ""
        where = f"a route found in the code, {_shown(main_dir / route.file.path)}:{line}{reads}"
        if route.path in PROBE_PATHS:
            probes.append(RouteCandidate(RequestTemplate("GET", full), "a probe path"))
        elif keys:
            keyed.append(RouteCandidate(RequestTemplate("GET", full), where))
        elif route.path != "/":
            plain.append(RouteCandidate(RequestTemplate("GET", full), where))
    last = RouteCandidate(RequestTemplate("GET", "/"), "the default")
    return (*keyed, *plain, *probes, last)
