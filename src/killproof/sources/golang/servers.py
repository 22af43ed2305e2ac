"""Servers a package starts (net/http, gRPC, echo, gin) and the addresses they listen on."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.devtools import dev_only
from killproof.sources.golang.flags import startup_value
from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.syntax import (
    FUNC_TYPES,
    call_args,
    call_parts,
    first_named,
    string_value,
    text,
    unparen,
    walk,
)
from killproof.sources.golang.values import definitions, values_of

HTTP = "net/http"
GRPC = "google.golang.org/grpc"
GIN = "github.com/gin-gonic/gin"
ECHO_PREFIX = "github.com/labstack/echo"
FIBER_PREFIX = "github.com/gofiber/fiber"
EXPORTER_WEB = "github.com/prometheus/exporter-toolkit/web"
"""exporter-toolkit's ``web.ListenAndServe(srv, flags, logger)`` and
``web.Serve(l, srv, flags, logger)``: an http.Server started with TLS/auth config."""
_PORT = re.compile(r":(?P<port>[0-9]{1,5})$")
_LOOPBACK = ("localhost", "127.", "[::1]", "::1", "ip6-localhost")


class StartKind(enum.Enum):
    """How a server is started, which decides whether it can be stopped gracefully."""

    PACKAGE_LEVEL = "package-level"
    """``http.ListenAndServe``/``Serve``: no server value, so no Shutdown, no timeouts."""
    METHOD = "method"
    """``srv.ListenAndServe()``, ``grpcServer.Serve(l)``, ``e.Start(addr)``."""
    GIN_RUN = "gin-run"
    """gin's ``r.Run()``: http.ListenAndServe underneath, no Shutdown possible."""


@dataclass(frozen=True)
class ServerStart:
    """One call that starts serving. ``server`` is the resolved ``http.Server{…}`` literal
    when known; ``addr`` and ``handler`` are the expressions given, when known."""

    file: GoFile
    call: ts.Node
    kind: StartKind
    server: ts.Node | None
    addr: ts.Node | None
    handler: ts.Node | None
    handler_known: bool
    framework: str = "http"
    """``http``, ``grpc``, ``echo``, ``gin``, ``fiber``, or ``""`` when unknown."""
    holder: ts.Node | None = None
    """The expression holding the server (``srv`` of ``srv.ListenAndServe()`` or of
    ``web.ListenAndServe(srv, …)``), None for package-level starts."""


def _kind_of_receiver(pkg: GoPackage, f: GoFile, receiver: ts.Node) -> tuple[str, ts.Node | None]:
    """('http', literal) / ('grpc', None) / ('echo', None) / ('gin', None) / ('', None)."""
    vals = values_of(pkg, receiver)
    if not vals:
        return "", None
    for val in vals:
        v = unparen(val)
        if v is not None and v.type == "unary_expression":
            v = unparen(v.child_by_field_name("operand"))
        if v is None:
            continue
        if v.type == "composite_literal":
            q = f.qualified(v.child_by_field_name("type"))
            if q == (HTTP, "Server"):
                return "http", v
        if v.type == "call_expression":
            target = pkg.file_of(v).call_target(v)
            if target is None:
                continue
            if target == (GRPC, "NewServer"):
                return "grpc", None
            if target[0].startswith(ECHO_PREFIX) and target[1] == "New":
                return "echo", None
            if target[0] == GIN and target[1] in ("Default", "New"):
                return "gin", None
            if target[0].startswith(FIBER_PREFIX) and target[1] == "New":
                return "fiber", None
    return "", None


def declared_types(pkg: GoPackage, expr: ts.Node | None) -> list[ts.Node]:
    """The types ``expr`` is declared with: a parameter, receiver or ``var x T`` (in its
    function or at package level) for an identifier; the struct fields of that name in
    the package for ``x.f``."""
    expr = unparen(expr)
    if expr is None:
        return []
    if expr.type == "selector_expression":
        name = text(expr.child_by_field_name("field"))
        return [t for f in pkg.files for t in _field_types(f, name)]
    if expr.type != "identifier":
        return []
    name = text(expr)
    cur = expr.parent
    while cur is not None:
        if cur.type in FUNC_TYPES:
            for fld in ("receiver", "parameters"):
                params = cur.child_by_field_name(fld)
                for decl in params.named_children if params is not None else ():
                    typ = decl.child_by_field_name("type")
                    names = decl.children_by_field_name("name")
                    if typ is not None and any(text(n) == name for n in names):
                        return [typ]
            body = cur.child_by_field_name("body")
            found = _var_types(body, name) if body is not None else []
            if found:
                return found
        cur = cur.parent
    return [t for f in pkg.files for t in _var_types(f.tree.root_node, name, top=True)]


def _var_types(scope: ts.Node, name: str, top: bool = False) -> list[ts.Node]:
    out: list[ts.Node] = []
    nodes = (
        (n for d in scope.named_children if d.type == "var_declaration" for n in walk(d))
        if top
        else walk(scope)
    )
    for n in nodes:
        if n.type == "var_spec" and any(text(x) == name for x in n.children_by_field_name("name")):
            typ = n.child_by_field_name("type")
            if typ is not None:
                out.append(typ)
    return out


def _field_types(f: GoFile, name: str) -> list[ts.Node]:
    if name.encode() not in f.source:
        return []
    out: list[ts.Node] = []
    for decl in f.tree.root_node.named_children:
        if decl.type != "type_declaration":
            continue
        for n in walk(decl):
            if n.type == "field_declaration" and any(
                text(x) == name for x in n.children_by_field_name("name")
            ):
                typ = n.child_by_field_name("type")
                if typ is not None:
                    out.append(typ)
    return out


def _kind_of_type(pkg: GoPackage, typ: ts.Node, depth: int = 0) -> str:
    """``http``/``grpc``/``echo``/``gin`` for ``*http.Server``, ``*grpc.Server``,
    ``*echo.Echo``, ``*gin.Engine``, or a local struct type that embeds one of them."""
    while typ.type == "pointer_type":
        inner = first_named(typ)
        if inner is None:
            return ""
        typ = inner
    f = pkg.file_of(typ)
    q = f.qualified(typ)
    if q is not None:
        if q == (HTTP, "Server"):
            return "http"
        if q == (GRPC, "Server"):
            return "grpc"
        if q[0].startswith(ECHO_PREFIX) and q[1] == "Echo":
            return "echo"
        if q == (GIN, "Engine"):
            return "gin"
        return ""
    if typ.type != "type_identifier" or depth > 2:
        return ""
    name = text(typ)
    for g in pkg.files:
        for decl in g.tree.root_node.named_children:
            if decl.type != "type_declaration":
                continue
            for spec in decl.named_children:
                if spec.type != "type_spec" or text(spec.child_by_field_name("name")) != name:
                    continue
                body = spec.child_by_field_name("type")
                for fd in walk(body) if body is not None else ():
                    embedded = fd.type == "field_declaration" and not fd.child_by_field_name("name")
                    ft = fd.child_by_field_name("type") if embedded else None
                    if ft is not None:
                        kind = _kind_of_type(pkg, ft, depth + 1)
                        if kind:
                            return kind
    return ""


def server_kind(pkg: GoPackage, expr: ts.Node | None) -> str:
    """What server ``expr`` holds, from what it was assigned or how it is declared:
    ``http``, ``grpc``, ``echo``, ``gin``, or ``""`` when unknown (or not a server)."""
    if expr is None:
        return ""
    kind, _ = _kind_of_receiver(pkg, pkg.file_of(expr), expr)
    if kind:
        return kind
    for typ in declared_types(pkg, expr):
        kind = _kind_of_type(pkg, typ)
        if kind:
            return kind
    return ""


def receiver_key(expr: ts.Node | None) -> str:
    """A name that stays the same wherever one server value is used in a package:
    ``srv`` for an identifier, ``.server`` for any ``x.server`` (methods of one type
    call their receiver by different names)."""
    expr = unparen(expr)
    if expr is None:
        return ""
    if expr.type == "selector_expression":
        return "." + text(expr.child_by_field_name("field"))
    return text(expr)


def receiver_of(call: ts.Node) -> ts.Node | None:
    """``x`` of the call ``x.m(…)``, None for a call of a plain function."""
    fn = unparen(call.child_by_field_name("function"))
    if fn is None or fn.type != "selector_expression":
        return None
    return fn.child_by_field_name("operand")


def literal_field(literal: ts.Node, name: str) -> ts.Node | None:
    """The value of field ``name`` in a composite literal, or None when not set."""
    body = literal.child_by_field_name("body")
    if body is None:
        return None
    for el in body.named_children:
        if el.type != "keyed_element":
            continue
        key = el.child_by_field_name("key")
        if key is not None and text(key) == name:
            val = el.child_by_field_name("value")
            return first_named(val) if val is not None else None
    return None


def server_starts(pkg: GoPackage) -> list[ServerStart]:
    """Every call in the package that starts serving."""
    out: list[ServerStart] = []
    imported = {i.path for f in pkg.files for i in f.imports}
    serves_http = HTTP in imported or GRPC in imported
    has_gin = GIN in imported
    has_echo = any(p.startswith(ECHO_PREFIX) for p in imported)
    has_fiber = any(p.startswith(FIBER_PREFIX) for p in imported)
    for f, call in pkg.selector_calls(
        "ListenAndServe",
        "ListenAndServeTLS",
        "Serve",
        "ServeTLS",
        "Start",
        "StartTLS",
        "Run",
        "RunTLS",
        "Listen",
    ):
        parts = call_parts(call)
        assert parts is not None
        name = parts[1]
        args = call_args(call)
        target = f.call_target(call)
        if target is not None:
            start = _package_level_start(pkg, f, call, target, args)
            if start is not None:
                out.append(start)
            continue
        # Following the receiver costs a walk of its function: only where the method
        # name can mean a server (exec.Cmd has Start and Run too).
        if name in ("Run", "RunTLS") and not has_gin:
            continue
        if name in ("Start", "StartTLS") and not has_echo:
            continue
        if name == "Listen" and not has_fiber:
            continue
        if name not in ("Run", "RunTLS", "Start", "StartTLS", "Listen") and not (
            serves_http or (name in ("Serve", "ServeTLS") and "net" in imported)
        ):
            continue
        fn = call.child_by_field_name("function")
        receiver = fn.child_by_field_name("operand") if fn is not None else None
        if receiver is None:
            continue
        kind, literal = _kind_of_receiver(pkg, f, receiver)
        addr = args[0] if args else None
        wanted = {"Start": "echo", "StartTLS": "echo", "Run": "gin", "RunTLS": "gin"}
        if name in wanted or name == "Listen":
            if kind != wanted.get(name, "fiber"):
                continue
            start_kind = StartKind.GIN_RUN if kind == "gin" else StartKind.METHOD
            out.append(ServerStart(f, call, start_kind, None, addr, None, False, kind, receiver))
            continue
        if name.startswith("ListenAndServe") and kind not in ("", "http"):
            continue
        if (
            kind == ""
            and name in ("Serve", "ServeTLS")
            and not _serves_listener(pkg, receiver, args)
        ):
            # suture-style service loops `Serve(ctx)`, sessions' `Serve()`, config
            # providers' `Serve("public")`: a method called Serve that is given no
            # listener starts no network server.
            continue
        if kind == "" and _own_plumbing(pkg, call, receiver):
            continue
        addr = literal_field(literal, "Addr") if literal is not None else None
        handler = literal_field(literal, "Handler") if literal is not None else None
        known = literal is not None
        out.append(
            ServerStart(f, call, StartKind.METHOD, literal, addr, handler, known, kind, receiver)
        )
    # A developer's tool in the binary (a docs viewer, a `--dev` file server) is not
    # what a deployment runs: no rule judges it as the server.
    return [s for s in out if not dev_only(pkg, s.file, s.call)]


_STOPS = ("Shutdown", "GracefulStop")


def _own_plumbing(pkg: GoPackage, call: ts.Node, receiver: ts.Node) -> bool:
    """``s.Serve(l)`` inside a method of ``s``'s own type (``func (s *Server)
    ListenAndServe() error``) when that type also declares ``Shutdown`` or
    ``GracefulStop``: the type's own plumbing, not a start. Whoever calls its
    ``ListenAndServe`` starts the server, and can stop it gracefully. Reads the
    enclosing declarations and the package's method index only."""
    if receiver.type != "identifier":
        return False
    method = call.parent
    while method is not None and method.type not in ("method_declaration", "function_declaration"):
        method = method.parent
    if method is None or method.type != "method_declaration":
        return False
    owner = _receiver_type(method)
    if owner is None or owner[0] != text(receiver):
        return False
    for name in _STOPS:
        for _, decl in pkg.functions.get(name, ()):
            other = _receiver_type(decl) if decl.type == "method_declaration" else None
            if other is not None and other[1] == owner[1]:
                return True
    return False


def _receiver_type(method: ts.Node) -> tuple[str, str] | None:
    """(receiver name, receiver type name without ``*``) of a method declaration."""
    params = method.child_by_field_name("receiver")
    decls = [
        d
        for d in (params.named_children if params is not None else ())
        if d.type == "parameter_declaration"
    ]
    if len(decls) != 1:
        return None
    name = decls[0].child_by_field_name("name")
    typ = decls[0].child_by_field_name("type")
    if typ is None:
        return None
    return (text(name) if name is not None else "", text(typ).lstrip("*").split("[")[0])


_LISTENER_NAME = re.compile(r"(?i)^(l|ln|lis|lsn)$|listener|^lis[A-Z_]|Lis$")
_LISTENER_MAKERS = {
    "net": ("Listen", "ListenTCP", "ListenUnix", "FileListener"),
    "crypto/tls": ("Listen", "NewListener"),
}


def _serves_listener(pkg: GoPackage, receiver: ts.Node, args: list[ts.Node]) -> bool:
    """``Serve(l)``/``ServeTLS(l, cert, key)`` of an unknown receiver is a server start
    when ``l`` is a listener; ``Serve()`` when the receiver was built from one
    (``m := cmux.New(ln); m.Serve()``)."""
    if len(args) in (1, 3):
        return _is_listener(pkg, args[0])
    if args:
        return False
    for value in values_of(pkg, receiver) or []:
        v = unparen(value)
        if v is not None and v.type == "unary_expression":
            v = unparen(v.child_by_field_name("operand"))
        if (
            v is not None
            and v.type == "call_expression"
            and any(_is_listener(pkg, a) for a in call_args(v))
        ):
            return True
    return False


def _is_listener(pkg: GoPackage, expr: ts.Node | None) -> bool:
    """``expr`` is a listener: made by ``net.Listen``/``tls.Listen``/a function named
    ``…Listen…``, declared as a ``…Listener``, or named like one (``l``, ``lis``,
    ``listener``, ``metricsLis``)."""
    arg = unparen(expr)
    if arg is None:
        return False
    if arg.type == "call_expression":
        return _makes_listener(pkg, arg)
    if arg.type not in ("identifier", "selector_expression"):
        return False
    name = text(arg.child_by_field_name("field") if arg.type == "selector_expression" else arg)
    if _LISTENER_NAME.search(name):
        return True
    if any("Listener" in text(t) for t in declared_types(pkg, arg)):
        return True
    if arg.type == "identifier":
        for d in definitions(pkg, arg):
            value = unparen(d.value)
            if (
                value is not None
                and value.type == "call_expression"
                and _makes_listener(pkg, value)
            ):
                return True
    return False


def _makes_listener(pkg: GoPackage, call: ts.Node) -> bool:
    """``net.Listen(…)``, ``tls.NewListener(…)``, ``netutil.LimitListener(…)``,
    ``reuseport.Listen(…)``: a call whose function is named for a listener."""
    target = pkg.file_of(call).call_target(call)
    if target is not None and target[1] in _LISTENER_MAKERS.get(target[0], ()):
        return True
    parts = call_parts(call)
    fn = parts[1] if parts is not None else text(call.child_by_field_name("function"))
    return "Listen" in fn


def _package_level_start(
    pkg: GoPackage, f: GoFile, call: ts.Node, target: tuple[str, str], args: list[ts.Node]
) -> ServerStart | None:
    """``http.ListenAndServe(addr, h)``, ``http.Serve(l, h)``, and exporter-toolkit's
    ``web.ListenAndServe(srv, …)``/``web.Serve(l, srv, …)`` (a server value: METHOD)."""
    path, name = target
    if path == HTTP and name in ("ListenAndServe", "ListenAndServeTLS"):
        at = 3 if name == "ListenAndServeTLS" else 1  # (addr, certFile, keyFile, handler)
        handler = args[at] if len(args) > at else None
        addr = args[0] if args else None
        return ServerStart(f, call, StartKind.PACKAGE_LEVEL, None, addr, handler, True)
    if path == HTTP and name in ("Serve", "ServeTLS"):
        handler = args[1] if len(args) > 1 else None
        return ServerStart(f, call, StartKind.PACKAGE_LEVEL, None, None, handler, True)
    if path == EXPORTER_WEB and name in ("ListenAndServe", "Serve"):
        index = 0 if name == "ListenAndServe" else 1
        holder = args[index] if len(args) > index else None
        literal = _http_literal(pkg, holder)
        addr = literal_field(literal, "Addr") if literal is not None else None
        handler = literal_field(literal, "Handler") if literal is not None else None
        known = literal is not None
        return ServerStart(f, call, StartKind.METHOD, literal, addr, handler, known, "http", holder)
    return None


def _http_literal(pkg: GoPackage, expr: ts.Node | None) -> ts.Node | None:
    """The ``http.Server{…}`` literal ``expr`` holds, when known."""
    if expr is None:
        return None
    kind, literal = _kind_of_receiver(pkg, pkg.file_of(expr), expr)
    return literal if kind == "http" else None


@dataclass(frozen=True)
class Address:
    """What is known of a listen address: its port, the env var it comes from, and
    whether it is certainly loopback or certainly all interfaces."""

    port: int | None = None
    port_env: str | None = None
    loopback: bool = False
    public: bool = False


def resolve_address(pkg: GoPackage, expr: ts.Node | None) -> Address:
    """Read ``":8080"``, ``"127.0.0.1:6060"``, ``":" + port`` with ``port`` from
    ``os.Getenv("PORT")`` (and its fallback literal), a flag's default or a constant
    (:func:`~killproof.sources.golang.flags.startup_value`); unknown parts stay None."""
    if expr is None:
        return Address()
    vals = values_of(pkg, expr)
    if vals is not None and len(vals) == 1:
        found = _address(pkg, vals[0])
        if found != Address():
            return found
    # a flag's default or a constant: what a deploy that sets nothing listens on
    for candidate in (expr, *(vals or [])[:1]):
        default = startup_value(pkg, candidate)
        if isinstance(default, str):
            return _literal_address(default)
        if default is not None:
            return _address(pkg, default)
    return Address()


def _literal_address(value: str) -> Address:
    """``":8081"``, ``"127.0.0.1:6060"`` given as text (a struct tag's default)."""
    if ":" not in value:
        return Address()
    host, _, port = value.rpartition(":")
    return Address(
        port=int(port) if port.isdigit() else None,
        loopback=host.startswith(_LOOPBACK),
        public=host in ("", "0.0.0.0", "[::]"),
    )


def _flatten(node: ts.Node) -> list[ts.Node]:
    node_u = unparen(node)
    if node_u is None:
        return []
    if node_u.type == "binary_expression" and text(node_u.child_by_field_name("operator")) == "+":
        left = node_u.child_by_field_name("left")
        right = node_u.child_by_field_name("right")
        return (_flatten(left) if left else []) + (_flatten(right) if right else [])
    return [node_u]


def _address(pkg: GoPackage, node: ts.Node) -> Address:
    formatted = _sprintf_format(pkg, node)
    if formatted is not None:
        # fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf(":%v", cfg.Port): the host is
        # in the format; a verb in the host leaves it unknown.
        host, colon, rest = formatted.rpartition(":")
        if not colon or "%" in host:
            return Address()
        return Address(
            port=int(rest) if rest.isdigit() else None,
            loopback=host.startswith(_LOOPBACK),
            public=host in ("", "0.0.0.0", "[::]"),
        )
    parts = _flatten(node)
    host_lits: list[str] = []
    host_other: list[ts.Node] = []
    port: int | None = None
    port_env: str | None = None
    seen_colon = False
    for part in parts:
        lit = string_value(part)
        if not seen_colon:
            if lit is not None and ":" in lit:
                seen_colon = True
                host, _, rest = lit.rpartition(":")
                host_lits.append(host)
                if rest.isdigit():
                    port = int(rest)
            elif lit is not None:
                host_lits.append(lit)
            else:
                host_other.append(part)
            continue
        if lit is not None:
            if lit.isdigit():
                port = int(lit)
            continue
        envs, fallbacks = _env_names(pkg, part)
        digits = [int(p) for p in fallbacks if p.isdigit()]
        if len(digits) == 1:
            port = digits[0]
        if len(envs) == 1:
            port_env = envs[0]
    if not seen_colon:
        return Address()
    host = "".join(host_lits)
    # A host read from an unset env var is "", i.e. every interface: Go's default.
    env_host = all(_is_env_lookup(pkg, h) for h in host_other)
    return Address(
        port=port,
        port_env=port_env,
        loopback=host.startswith(_LOOPBACK),
        public=host in ("", "0.0.0.0", "[::]") and env_host,
    )


def _sprintf_format(pkg: GoPackage, node: ts.Node) -> str | None:
    """The literal format of ``fmt.Sprintf(format, …)``, None for anything else."""
    node_u = unparen(node)
    if node_u is None or node_u.type != "call_expression":
        return None
    if pkg.file_of(node_u).call_target(node_u) != ("fmt", "Sprintf"):
        return None
    args = call_args(node_u)
    return string_value(args[0]) if args else None


def listener_address(pkg: GoPackage, listener: ts.Node | None) -> Address:
    """Where a listener listens: the address given to the ``net.Listen``/``tls.Listen``
    call it was made by (``lis, err := net.Listen("tcp", "127.0.0.1:0")``)."""
    node = unparen(listener)
    calls: list[ts.Node] = []
    if node is not None and node.type == "call_expression":
        calls = [node]
    elif node is not None and node.type == "identifier":
        calls = [
            v
            for d in definitions(pkg, node)
            if (v := unparen(d.value)) is not None and v.type == "call_expression"
        ]
    found = [
        resolve_address(pkg, args[1])
        for call in calls
        if pkg.file_of(call).call_target(call) in (("net", "Listen"), ("crypto/tls", "Listen"))
        and len(args := call_args(call)) > 1
    ]
    return found[0] if len(found) == 1 else Address()


def _is_env_lookup(pkg: GoPackage, node: ts.Node) -> bool:
    if node.type != "call_expression":
        return False
    target = pkg.file_of(node).call_target(node)
    return target in (("os", "Getenv"), ("os", "LookupEnv"))


def _env_names(pkg: GoPackage, expr: ts.Node) -> tuple[list[str], list[str]]:
    """Env var names an expression is read from, and literal fallbacks assigned to it."""
    envs: list[str] = []
    literals: list[str] = []
    candidates: list[ts.Node] = [expr]
    u = unparen(expr)
    if u is not None and u.type == "identifier":
        candidates = [d.value for d in definitions(pkg, u) if d.value is not None]
    for c in candidates:
        lit = string_value(c)
        if lit is not None:
            literals.append(lit)
            continue
        if c.type == "call_expression":
            args = call_args(c)
            name = string_value(args[0]) if args else None
            if name is not None and name.isupper():
                envs.append(name)
            for extra in args[1:]:
                s = string_value(extra)
                if s is not None:
                    literals.append(s)
    return envs, literals
