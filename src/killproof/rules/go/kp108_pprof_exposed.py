"""KP108 pprof-exposed: net/http/pprof or expvar on the DefaultServeMux, served publicly."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Evidence, Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.requests import routes
from killproof.sources.golang.roles import uses_default_mux
from killproof.sources.golang.servers import (
    HTTP,
    ServerStart,
    StartKind,
    receiver_key,
    receiver_of,
    resolve_address,
)
from killproof.sources.golang.syntax import call_args, outermost_function, text, unparen, walk
from killproof.sources.golang.values import values_of

_DEBUG_PACKAGES = ("net/http/pprof", "expvar")
PPROF = "net/http/pprof"
# Packages that mount every pprof handler on a router given to them.
_PPROF_REGISTRARS = (
    "github.com/gin-contrib/pprof",
    "github.com/labstack/echo-contrib/pprof",
)
_CHI_MIDDLEWARE = ("github.com/go-chi/chi/v5/middleware", "github.com/go-chi/chi/middleware")


def _pprof_routers(pkg: GoPackage) -> list[tuple[GoFile, ts.Node, str]]:
    """(file, registering call, router key) for every place pprof is put on a router:
    a ``/debug/pprof`` route, a route to a net/http/pprof handler, chi's
    ``Mount(…, middleware.Profiler())``, gin-contrib's or echo-contrib's
    ``pprof.Register(router)``."""
    out: list[tuple[GoFile, ts.Node, str]] = []
    default_mux_has_pprof = pkg.imports_path(PPROF)
    for route in routes(pkg):
        f = route.file
        if route.path.startswith("/debug/pprof") or any(
            _is_pprof_handler(f, h, default_mux_has_pprof) for h in route.handlers
        ):
            out.append((f, route.call, receiver_key(receiver_of(route.call))))
    for f, call in pkg.selector_calls("Mount"):
        if any(_is_call_into(f, a, _CHI_MIDDLEWARE, "Profiler") for a in call_args(call)):
            out.append((f, call, receiver_key(receiver_of(call))))
    if pkg.imports_path(*_PPROF_REGISTRARS):
        for f, call in pkg.calls_named("Register"):
            target = f.call_target(call)
            args = call_args(call)
            if target is not None and target[0] in _PPROF_REGISTRARS and args:
                out.append((f, call, receiver_key(args[0])))
    return out


def _is_call_into(f: GoFile, node: ts.Node, paths: tuple[str, ...], name: str) -> bool:
    node_u = unparen(node)
    if node_u is None or node_u.type != "call_expression":
        return False
    target = f.call_target(node_u)
    return target is not None and target[0] in paths and target[1] == name


def _is_pprof_handler(f: GoFile, node: ts.Node, default_mux: bool) -> bool:
    """``pprof.Index``, ``http.HandlerFunc(pprof.Profile)``, ``pprof.Handler("heap")``,
    and (``default_mux``: net/http/pprof is imported) ``gin.WrapH(http.DefaultServeMux)``."""
    node_u = unparen(node)
    if node_u is None:
        return False
    if node_u.type == "call_expression":
        target = f.call_target(node_u)
        if target is not None and target[0] == PPROF:
            return True
        return any(_is_pprof_handler(f, a, default_mux) for a in call_args(node_u))
    q = f.qualified(node_u)
    if q is not None and q[0] == PPROF:
        return True
    return default_mux and q == (HTTP, "DefaultServeMux")


def _serves_router(pkg: GoPackage, start: ServerStart, key: str, reg: ts.Node) -> bool:
    """The server is the router itself (gin, echo, fiber) or its handler is built from
    it (``Handler: r``, ``Handler: logging(r)``, ``http.ListenAndServe(addr, r)``). A
    local variable only matches in the function that registered the route (where the
    server starts, or where its handler was set: a constructor that builds the server
    a method starts later)."""
    local = not key.startswith(".") and key not in _package_vars(pkg)
    here = {outermost_function(start.call)}
    if start.handler is not None:
        # `s.http = http.Server{Handler: mux}` in a constructor, started in `s.Run()`.
        here.add(outermost_function(start.handler))
    if local and outermost_function(reg) not in here:
        return False
    if start.holder is not None and receiver_key(start.holder) == key:
        return True
    if start.handler is None:
        return False
    for expr in [start.handler, *(values_of(pkg, start.handler) or [])]:
        for n in [expr, *walk(expr)]:
            if n.type in ("identifier", "selector_expression") and receiver_key(n) == key:
                return True
    return False


def _package_vars(pkg: GoPackage) -> set[str]:
    return {text(n) for _, spec in pkg.package_vars() for n in spec.children_by_field_name("name")}


def _public(pkg: GoPackage, start: ServerStart) -> bool:
    """Listening on every interface; gin's ``Run()`` with no address takes ``:8080``."""
    if start.addr is None and start.kind is StartKind.GIN_RUN:
        return True
    return resolve_address(pkg, start.addr).public


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    imports = [(f, i) for f in pkg.files for i in f.imports if i.path in _DEBUG_PACKAGES]
    for start in facts.starts if imports else []:
        if not uses_default_mux(pkg, start):
            continue
        addr = resolve_address(pkg, start.addr)
        if not addr.public:
            continue
        f = start.file
        imp_file, imp = imports[0]
        yield RULE.finding(
            f"{imp.path} registers its handlers on the DefaultServeMux, and this server "
            f"serves that mux on every interface ({text(start.addr)}): anyone who can reach "
            "the port can pull heap profiles and 30-second CPU profiles",
            f.location(start.call),
            [
                f.evidence(start.call),
                Evidence(imp_file.line_text(imp.line), imp_file.path, imp.line),
            ],
        )
    if not facts.starts:
        return
    reported: set[int] = set()  # one finding per server, however many pprof routes
    for rf, reg, key in _pprof_routers(pkg):
        for start in facts.starts:
            if start.call.id in reported or not key:
                continue
            if not _serves_router(pkg, start, key, reg) or not _public(pkg, start):
                continue
            reported.add(start.call.id)
            where = text(start.addr) if start.addr is not None else ":8080"
            yield RULE.finding(
                f"pprof handlers are mounted on `{key.lstrip('.')}`, and this server serves "
                f"that router on every interface ({where}): anyone who can reach the port "
                "can pull heap profiles and 30-second CPU profiles",
                start.file.location(start.call),
                [start.file.evidence(start.call), rf.evidence(reg)],
            )
            break


RULE: Rule[PackageFacts] = Rule(
    id="KP108",
    name="pprof-exposed",
    severity=Severity.ERROR,
    summary="pprof (or expvar) served on a public address: DefaultServeMux or a router.",
    docs=RuleDocs(
        what=(
            "A package that imports `net/http/pprof` or `expvar` (they register on "
            "`http.DefaultServeMux`) and serves the DefaultServeMux (`nil` handler, "
            "`http.DefaultServeMux`, or a variable or field holding it) on an address that "
            'is not loopback (`:8080`, `0.0.0.0:6060`, `":" + port`, a flag whose default '
            'is such an address — `flag.StringVar(&addr, "listen", ":6060", …)`, '
            "`flag.String`, a kingpin `Default(…)` — or a string constant of this package "
            "or of another package of the module, `constants.ListenAddr`); and a router with "
            "pprof mounted on it (a `/debug/pprof` route, a route to a net/http/pprof "
            "handler, chi's `middleware.Profiler()`, gin-contrib's or echo-contrib's "
            "`pprof.Register`) that a server of the same package serves on such an "
            "address."
        ),
        why=(
            "Profiling endpoints on the public port let any client start CPU profiles and "
            "dump the heap: each call costs CPU and memory in the serving process, and "
            "`/debug/pprof/heap?debug=1` on a large heap can itself push a tight "
            "container over its limit. It also leaks internals."
        ),
        example='```go\nimport _ "net/http/pprof"\n…\nhttp.ListenAndServe(":8080", nil)\n```',
        fix=(
            "Serve your handlers on their own `http.NewServeMux()`, and pprof on a "
            "loopback-only listener (`127.0.0.1:6060`) or behind authentication."
        ),
        references=(
            "https://pkg.go.dev/net/http/pprof",
            "https://github.com/securego/gosec#available-rules (G108)",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"net/http"\n\t_ "net/http/pprof"\n)\n\n'
            "func serve() error {\n"
            '\treturn http.ListenAndServe(":8080", nil)\n}\n',
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"net/http"\n\t_ "net/http/pprof"\n)\n\n'
            "func serve() error {\n"
            '\treturn http.ListenAndServe("127.0.0.1:6060", nil)\n}\n',
            "main.go",
        ),
    ),
    family="go",
)
