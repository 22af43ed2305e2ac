"""What traffic a server carries: the program's clients, or only side traffic (Prometheus
scrapes, profiles, health checks) that needs no drain when the process stops.

A scrape or a health check cut at exit is retried at the next interval; a profile
request is a person's debugging session. So "this server is never shut down gracefully"
matters only for servers that carry the program's own requests. A server is *side* when
its handler is known and serves side paths only:

- ``promhttp.Handler()`` / ``promhttp.HandlerFor(…)`` itself;
- a mux built here (``http.NewServeMux()``, gorilla/chi routers…) whose every route is a
  side path (``/metrics``, ``/debug/…``, ``/healthz``, ``/readyz``, ``/status``…, and the
  lifecycle hooks ``/shutdown``, ``/prestop``, ``/quitquitquit``);
- a Prometheus exporter: an exporter-toolkit server (``web.ListenAndServe``) in a program
  that serves promhttp metrics, whose clients are scrapers by design (decided per
  program);
- the DefaultServeMux, when every route the program puts on it is a side path (decided
  per program, from :attr:`PackageSummary.default_mux_paths`), or when it is served on
  an address named for profiling (``ProfilerAddr``, ``pprofAddr``), as the debug door to
  a mux that also carries the public routes;
- a server whose routes are not known here but whose handler, address or listener is
  named for side traffic (``s.debugListener.debugMux``, ``cfg.MetricsAddr``,
  ``pprofListener``): a debug or metrics port beside the main one. A handler that is a
  call (``metrics.Instrument(mux)``) says nothing about its routes and is not read so.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

import tree_sitter as ts

from killproof.sources.golang.flags import package_constant
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.requests import route_path, routes
from killproof.sources.golang.servers import (
    EXPORTER_WEB,
    HTTP,
    ServerStart,
    receiver_key,
    receiver_of,
)
from killproof.sources.golang.syntax import (
    call_args,
    call_parts,
    contains,
    enclosing_function,
    outermost_function,
    text,
    unparen,
    walk,
)
from killproof.sources.golang.values import definitions, values_of

SIDE_PATHS = frozenset(
    {
        *("/metrics", "/healthz", "/health", "/livez", "/readyz", "/ready", "/live"),
        *("/ping", "/status", "/version", "/-/healthy", "/-/ready"),
        *("/shutdown", "/prestop", "/pre-stop", "/quitquitquit"),
    }
)
"""Paths whose requests need no drain: scrapes, probes, status, and lifecycle hooks (a
preStop ``httpGet`` finishes before the kubelet sends SIGTERM; a ``/quitquitquit`` is
the stop itself)."""
SIDE_PREFIXES = ("/debug/", "/.well-known/acme-challenge/")
"""``/debug/…``, and ACME HTTP-01 challenges: a certificate authority's one short GET."""
UNKNOWN_PATH = "?"
"""Stands for a route whose path is not a literal (``*metricsPath``, ``path.Join(…)``)."""
PROMHTTP = "github.com/prometheus/client_golang/prometheus/promhttp"
_ROUTERS = {
    HTTP: ("NewServeMux",),
    "github.com/gorilla/mux": ("NewRouter",),
    "github.com/go-chi/chi": ("NewRouter", "NewMux"),
    "github.com/go-chi/chi/v5": ("NewRouter", "NewMux"),
    "github.com/julienschmidt/httprouter": ("New",),
}
_PROFILING_NAME = re.compile(r"(?i)pprof|profil")
_SIDE_NAME = re.compile(
    r"(?i)pprof|profil|debug|metric|prometheus|health|probe|acme|autocert|challenge"
    r"|(tls|cert)_?validat"
)
"""Names of handlers, addresses and listeners of a side port (``debugMux``,
``metricsAddr``, ``healthListener``, an ACME challenge responder ``tlsValidator``)."""
AUTOCERT = "golang.org/x/crypto/acme/autocert"
"""autocert's ``m.HTTPHandler(fallback)`` answers HTTP-01 challenges (and redirects the
rest to HTTPS): nothing a drain would keep."""


class Role(enum.Enum):
    """Whose traffic a server carries."""

    MAIN = ""
    """The program's clients (or not known): a drain matters."""
    SIDE = "side"
    """Scrapes, profiles, health checks only."""
    DEFAULT_MUX = "default-mux"
    """The DefaultServeMux: side when every route the program puts on it is."""
    EXPORTER = "exporter"
    """An exporter-toolkit server: side when the program serves promhttp metrics."""
    HIJACKED = "hijacked"
    """Every route upgrades to a WebSocket: Shutdown does not track hijacked
    connections, so it would drain nothing either."""


ServedRoute = tuple[str, tuple[ts.Node, ...]]
"""A route's path and its handler expressions."""
_WEBSOCKET_PACKAGES = ("golang.org/x/net/websocket",)
_UPGRADES = frozenset({"Upgrade", "Accept"})


def is_side_path(path: str) -> bool:
    """True for ``/metrics``, ``/debug/pprof/``, ``/healthz``… (a trailing slash aside)."""
    trimmed = path.rstrip("/") or "/"
    return trimmed in SIDE_PATHS or path.startswith(SIDE_PREFIXES)


def all_side(paths: Iterable[str]) -> bool:
    """True when every path is a side path (``?`` never is)."""
    return all(p != UNKNOWN_PATH and is_side_path(p) for p in paths)


def uses_default_mux(pkg: GoPackage, start: ServerStart) -> bool:
    """The server's handler is the DefaultServeMux: ``nil``, ``http.DefaultServeMux``,
    or a variable or field that holds it."""
    if not start.handler_known:
        return False
    handler = unparen(start.handler)
    if handler is None or handler.type == "nil":
        return True
    return any(
        pkg.file_of(v).qualified(v) == (HTTP, "DefaultServeMux")
        for v in values_of(pkg, handler) or [handler]
    )


def start_role(pkg: GoPackage, start: ServerStart) -> Role:
    """The role of one server start (see the module docstring)."""
    f = start.file
    target = f.call_target(start.call)
    if target is not None and target[0] == EXPORTER_WEB:
        return Role.EXPORTER
    if start.framework != "http":
        return Role.MAIN
    if uses_default_mux(pkg, start):
        return Role.SIDE if _named_for_profiling(start) else Role.DEFAULT_MUX
    handler = unparen(start.handler)
    served = _handler_routes(pkg, handler) if handler is not None else None
    if not served:
        side = _named_for_side(start, handler) or _answers_acme(pkg, handler)
        return Role.SIDE if side else Role.MAIN
    if all_side(path for path, _ in served):
        return Role.SIDE
    if all(handlers and all(_upgrades(pkg, h) for h in handlers) for _, handlers in served):
        return Role.HIJACKED
    return Role.MAIN


def _named_for_profiling(start: ServerStart) -> bool:
    """The address (``a.opts.ProfilerAddr``) or the function serving it (``ServePProf``)
    is named for profiling."""
    if start.addr is not None and _PROFILING_NAME.search(text(start.addr)):
        return True
    func = enclosing_function(start.call)
    while func is not None and func.type == "func_literal":
        func = enclosing_function(func)
    name = func.child_by_field_name("name") if func is not None else None
    return name is not None and bool(_PROFILING_NAME.search(text(name)))


def _named_for_side(start: ServerStart, handler: ts.Node | None) -> bool:
    """The handler (``s.debugListener.debugMux``), the address (``cfg.MetricsAddr``) or
    the listener served (``http.Serve(s.debug.listener, …)``) is named for side traffic:
    a plain name or field chain, never a call whose result could wrap anything."""
    args = call_args(start.call)
    parts = call_parts(start.call)
    serves = parts is not None and parts[1].startswith("Serve")
    listener = args[0] if serves and args else None  # http.Serve(l, h), srv.Serve(l)
    return any(
        _SIDE_NAME.search(name)
        for node in (handler, start.addr, listener)
        for name in _chain_names(node)
    )


def _answers_acme(pkg: GoPackage, handler: ts.Node | None) -> bool:
    """The handler is autocert's ``m.HTTPHandler(nil)`` in a package that imports
    autocert: an ACME HTTP-01 challenge listener that redirects the rest to HTTPS. With a
    fallback handler (``m.HTTPHandler(mux)``) it serves that handler's routes too."""
    if handler is None or handler.type != "call_expression":
        return False
    parts = call_parts(handler)
    args = call_args(handler)
    return (
        parts is not None
        and parts[1] == "HTTPHandler"
        and [text(a) for a in args] == ["nil"]
        and pkg.imports_path(AUTOCERT)
    )


def _chain_names(node: ts.Node | None) -> list[str]:
    """``["s", "debugListener", "debugMux"]`` for ``s.debugListener.debugMux``; empty for
    anything that is not an identifier or a field chain (calls, literals)."""
    node = unparen(node)
    if node is not None and node.type == "unary_expression":
        node = unparen(node.child_by_field_name("operand"))  # &s.debugMux, *addr
    names: list[str] = []
    while node is not None and node.type == "selector_expression":
        names.append(text(node.child_by_field_name("field")))
        node = unparen(node.child_by_field_name("operand"))
    if node is None or node.type != "identifier":
        return []
    return [text(node), *reversed(names)]


def _handler_routes(pkg: GoPackage, handler: ts.Node) -> list[ServedRoute] | None:
    """The routes a handler serves: ``/metrics`` for promhttp's handler, the routes put
    on a mux built in this package; None when not known."""
    values = values_of(pkg, handler)
    if values is None and handler.type == "identifier":
        values = _call_values(pkg, handler)
    if not values:
        return None
    out: list[ServedRoute] = []
    for value in values:
        v = unparen(value)
        if v is None or v.type != "call_expression":
            return None
        target = pkg.file_of(v).call_target(v)
        if target is not None and target[0] == PROMHTTP:
            out.append(("/metrics", ()))
            continue
        if target is None or target[1] not in _ROUTERS.get(target[0], ()):
            return None
        registered = _mux_paths(pkg, handler)
        if registered is None:
            return None
        out.extend(registered)
    return out


def _upgrades(pkg: GoPackage, handler: ts.Node) -> bool:
    """The handler upgrades its connection to a WebSocket: x/net/websocket's
    ``websocket.Handler(…)``, or a function whose body calls ``upgrader.Upgrade(…)``
    (gorilla) or ``websocket.Accept(…)`` (nhooyr, coder)."""
    h = unparen(handler)
    if h is None:
        return False
    if h.type == "call_expression":
        target = pkg.file_of(h).call_target(h)
        if target is not None and target[0] in _WEBSOCKET_PACKAGES and target[1] == "Handler":
            return True
        args = call_args(h)
        if target == (HTTP, "HandlerFunc") and args:  # http.HandlerFunc(func(w, r) {…})
            return _upgrades(pkg, args[0])
        return False
    bodies: list[ts.Node] = []
    if h.type == "func_literal":
        bodies = [h]
    elif h.type in ("identifier", "selector_expression"):
        name = text(h.child_by_field_name("field") if h.type == "selector_expression" else h)
        bodies = [d for _, d in pkg.functions.get(name, [])]
    for body in bodies:
        for n in walk(body, into_funcs=True):
            if n.type == "call_expression" and (call_parts(n) or ("", ""))[1] in _UPGRADES:
                return True
    return False


def _call_values(pkg: GoPackage, ident: ts.Node) -> list[ts.Node] | None:
    """``mux := http.NewServeMux()`` when values_of gave up on a multi-value right side."""
    defs = definitions(pkg, ident)
    if not defs or any(d.value is None for d in defs):
        return None
    return [d.value for d in defs if d.value is not None]


def _mux_paths(pkg: GoPackage, handler: ts.Node) -> list[ServedRoute] | None:
    """Path and handlers of every ``mux.Handle``/``HandleFunc``/``Get``… on the handler's variable
    (in its function) or field (anywhere in the package); None when a route goes on it
    through something this cannot read (``Mount``, ``Route``, a non-literal path)."""
    key = receiver_key(handler)
    scope = _declaring_block(pkg, handler) if handler.type == "identifier" else None
    out: list[ServedRoute] = []
    for route in routes(pkg):
        holder = receiver_of(route.call)
        if receiver_key(holder) != key:
            continue
        if scope is not None and not contains(scope, route.call):
            continue
        out.append((route.path, route.handlers))
    for f, call in pkg.selector_calls("Handle", "HandleFunc", "Mount", "Route"):
        holder = receiver_of(call)
        if receiver_key(holder) != key or f.qualified(
            unparen(call.child_by_field_name("function"))
        ):
            continue
        if scope is not None and not contains(scope, call):
            continue
        args = call_args(call)
        if not args:
            return None
        if route_path(args[0]) is None:
            path = _constant_path(pkg, args[0])
            if path is None:
                return None
            out.append((path, tuple(args[1:])))
    return out


def _constant_path(pkg: GoPackage, node: ts.Node) -> str | None:
    """The path a package-level string constant holds (``mux.Handle(WSPath, h)``)."""
    ident = unparen(node)
    if ident is None or ident.type != "identifier":
        return None
    return route_path(package_constant(pkg, ident))


def _declaring_block(pkg: GoPackage, ident: ts.Node) -> ts.Node | None:
    """The block of the innermost ``ident := …`` whose block holds ``ident`` (a ``mux``
    declared in an ``if`` is not the ``mux`` of the function body); the outermost
    function when none is found."""
    best: ts.Node | None = None
    for d in definitions(pkg, ident):
        block = d.statement.parent
        while block is not None and block.type not in ("block", "source_file"):
            block = block.parent
        inner = block is not None and contains(block, ident)
        if block is not None and inner and (best is None or contains(best, block)):
            best = block
    return best if best is not None else outermost_function(ident)


def _holds_default_mux(pkg: GoPackage, holder: ts.Node) -> bool:
    """``http.DefaultServeMux`` itself, or a variable or field that holds it
    (``mux := http.DefaultServeMux``)."""
    return any(
        pkg.file_of(v).qualified(v) == (HTTP, "DefaultServeMux")
        for v in values_of(pkg, holder) or [holder]
    )


def _is_promhttp(pkg: GoPackage, handler: ts.Node) -> bool:
    """``promhttp.Handler()`` / ``promhttp.HandlerFor(…)``: whatever its path, the
    route serves scrapes."""
    h = unparen(handler)
    if h is None or h.type != "call_expression":
        return False
    target = pkg.file_of(h).call_target(h)
    return target is not None and target[0] == PROMHTTP


def default_mux_paths(pkg: GoPackage) -> frozenset[str]:
    """Paths the package puts on the DefaultServeMux (``http.Handle``/``HandleFunc``,
    ``http.DefaultServeMux.Handle``, a local alias of it), ``?`` for one that is not a
    literal (``/metrics`` for a promhttp handler on a configured path); importing
    net/http/pprof puts ``/debug/pprof/`` there."""
    out: set[str] = set()
    aliased = any(f.qualified(n) == (HTTP, "DefaultServeMux") for f, n in pkg.captured("dsm"))
    for f, call in pkg.selector_calls("Handle", "HandleFunc"):
        parts = call_parts(call)
        holder = receiver_of(call)
        on_default = f.is_call_to(call, HTTP, "Handle", "HandleFunc") or (
            holder is not None and aliased and _holds_default_mux(pkg, holder)
        )
        if parts is None or not on_default:
            continue
        args = call_args(call)
        path = route_path(args[0]) if args else None
        if path is None and len(args) > 1 and _is_promhttp(pkg, args[1]):
            path = "/metrics"  # http.Handle(cfg.path, promhttp.Handler())
        out.add(path if path is not None else UNKNOWN_PATH)
    if pkg.imports_path("net/http/pprof"):
        out.add("/debug/pprof/")
    return frozenset(out)
