"""KP114 http-client-without-timeout: outbound HTTP calls that can wait forever."""

from __future__ import annotations

import re
from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.contexts import Deadline, deadline_of
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.servers import HTTP, literal_field, receiver_key, receiver_of
from killproof.sources.golang.syntax import (
    FUNC_TYPES,
    call_args,
    call_parts,
    enclosing_function,
    outermost_function,
    text,
    unary_operand,
    unparen,
    walk,
)
from killproof.sources.golang.values import (
    assignments_in,
    definitions,
    reaching_definitions,
    values_of,
)

_DEFAULT_CALLS = ("Get", "Post", "Head", "PostForm")
_TIMED = re.compile(r"Timeout|Deadline")
"""A Transport built by a call that names a timeout or a deadline is given one."""
_CLI_NAMES = frozenset({"cli"})


def _holder_key(lit: ts.Node) -> str | None:
    """The key (:func:`receiver_key`) of what the literal is stored in: ``c`` for
    ``c := &http.Client{…}`` or ``var c = …``, ``.client`` for ``s.client = …`` or
    ``T{client: …}``; None when it is returned or passed on directly."""
    cur = lit.parent
    if cur is not None and cur.type == "unary_expression":
        cur = cur.parent
    if cur is None:
        return None
    if cur.type == "literal_element":
        keyed = cur.parent
        if keyed is not None and keyed.type == "keyed_element" and keyed.named_child_count:
            return "." + text(keyed.named_children[0])
        return None
    if cur.type != "expression_list" or cur.parent is None:
        return None
    stmt = cur.parent
    if stmt.type == "return_statement":
        # `func (n *N) client() *http.Client { return &http.Client{…} }`: the client
        # is what `n.client()` gives, wherever it is called.
        func = enclosing_function(stmt)
        name = func.child_by_field_name("name") if func is not None else None
        return f"{text(name)}()" if name is not None else None
    if stmt.type in ("short_var_declaration", "assignment_statement", "var_spec"):
        for target, assigned in assignments_in(stmt):
            value = unparen(assigned.value)
            if value is not None and (value.id == lit.id or lit.parent == value):
                return receiver_key(target)
    return None


def _assigned_fields(pkg: GoPackage, field: str, scope: ts.Node | None) -> set[str]:
    """Keys of every ``x.field = …`` target operand, in ``scope`` or the package."""
    out: set[str] = set()
    needle = field.encode()
    roots = (
        [scope]
        if scope is not None
        else [f.tree.root_node for f in pkg.files if needle in f.source]
    )
    for root in roots:
        for n in walk(root, into_funcs=True):
            if n.type != "assignment_statement":
                continue
            for target, _ in assignments_in(n):
                if target.type == "selector_expression" and (
                    text(target.child_by_field_name("field")) == field
                ):
                    out.add(receiver_key(target.child_by_field_name("operand")))
    return out


def _timeout_set_later(pkg: GoPackage, lit: ts.Node, key: str | None) -> bool:
    """``c.Timeout = …`` after construction: in the literal's own function for any
    receiver, anywhere in the package for the variable or field the client is kept in."""
    scope = outermost_function(lit)
    if scope is not None and _assigned_fields(pkg, "Timeout", scope):
        return True
    return key is not None and key in _assigned_fields(pkg, "Timeout", None)


def _transport_bounds_headers(pkg: GoPackage, lit: ts.Node) -> bool:
    """The client's Transport is an ``http.Transport`` with ``ResponseHeaderTimeout``."""
    transport = literal_field(lit, "Transport")
    if transport is None:
        return False
    for value in values_of(pkg, transport) or []:
        inner = unary_operand(value)
        if inner is not None and inner.type == "call_expression" and _TIMED.search(text(inner)):
            return True  # NewDeadlineTransport(connectTimeout, requestTimeout)
        if inner is None or inner.type != "composite_literal":
            continue
        if literal_field(inner, "ResponseHeaderTimeout") is not None:
            return True
    key = receiver_key(transport)
    return key in _assigned_fields(pkg, "ResponseHeaderTimeout", None)


def _bounded_context(pkg: GoPackage, expr: ts.Node | None, depth: int = 0) -> bool:
    """True when a request's context ends by itself: a deadline set in sight, or a
    context the caller passed in (its deadline is the caller's business). A handler's
    ``r.Context()`` and ``context.Background()`` have none."""
    expr = unparen(expr)
    if expr is None or depth > 4:
        return False
    deadline = deadline_of(pkg, expr)
    if deadline is not Deadline.UNKNOWN:
        return deadline is Deadline.SET
    if expr.type == "identifier":
        defs = definitions(pkg, expr)
        if not defs:
            return True  # a parameter: the caller's context
        return all(_bounded_context(pkg, d.value, depth + 1) for d in defs)
    if expr.type == "call_expression":
        parts = call_parts(expr)
        return not (parts is not None and parts[1] == "Context")
    return False


def _request_bounded(pkg: GoPackage, req: ts.Node | None, depth: int = 0) -> bool:
    """``req`` was built by ``http.NewRequestWithContext`` (or ``WithContext``) with a
    context that ends by itself."""
    req = unparen(req)
    if req is None or depth > 4:
        return False
    if req.type == "identifier":
        defs = reaching_definitions(pkg, req)
        if not defs:
            return _built_by_caller(pkg, req)
        return all(_request_bounded(pkg, d.value, depth + 1) for d in defs)
    if req.type != "call_expression":
        return False
    f = pkg.file_of(req)
    args = call_args(req)
    if f.call_target(req) == (HTTP, "NewRequestWithContext") and args:
        return _bounded_context(pkg, args[0])
    parts = call_parts(req)
    if parts is not None and parts[1] in ("WithContext", "Clone") and args:
        return _bounded_context(pkg, args[0])
    return False


def _built_by_caller(pkg: GoPackage, req: ts.Node) -> bool:
    """A request handed in as a parameter was built by the caller, whose business its
    context is (as for a context parameter) — unless the function is a handler and the
    request is the incoming one, whose context has no deadline."""
    func = enclosing_function(req)
    while func is not None:
        params = func.child_by_field_name("parameters")
        decls = params.named_children if params is not None else []
        names = {text(n) for d in decls for n in d.children_by_field_name("name")}
        if text(req) in names:
            f = pkg.file_of(func)
            return not any(
                f.qualified(d.child_by_field_name("type")) == (HTTP, "ResponseWriter")
                for d in decls
            )
        func = enclosing_function(func)
    return False


def _client_key(expr: ts.Node | None) -> str:
    """:func:`receiver_key`, and ``name()`` for a client a call without arguments gives
    (``n.client().Do(req)``)."""
    expr = unparen(expr)
    if expr is not None and expr.type == "call_expression" and not call_args(expr):
        parts = call_parts(expr)
        if parts is not None:
            return f"{parts[1]}()"
    return receiver_key(expr)


def _requests_all_bounded(pkg: GoPackage, key: str | None) -> bool:
    """The client (by its key) only sends requests whose context ends by itself: every
    ``client.Do(req)`` has such a request, and the context-less Get/Post/Head/PostForm
    are never called on it."""
    if key is None:
        return False
    dos = [c for _, c in pkg.calls_named("Do") if _client_key(receiver_of(c)) == key]
    if not dos:
        return False
    for _, call in pkg.selector_calls(*_DEFAULT_CALLS):
        if _client_key(receiver_of(call)) == key:
            return False
    return all(_request_bounded(pkg, _first_arg(c)) for c in dos)


def _do_with_bounded_request(pkg: GoPackage, default_client: ts.Node) -> bool:
    """``http.DefaultClient.Do(req)`` with a request whose context ends by itself."""
    sel = default_client.parent
    if sel is None or sel.type != "selector_expression":
        return False
    call = sel.parent
    if (
        call is None
        or call.type != "call_expression"
        or text(sel.child_by_field_name("field")) != "Do"
    ):
        return False
    args = call_args(call)
    return bool(args) and _request_bounded(pkg, args[0])


def _first_arg(call: ts.Node) -> ts.Node | None:
    args = call_args(call)
    return args[0] if args else None


def _nil_fallback(sel: ts.Node) -> bool:
    """``if c == nil { c = http.DefaultClient }``: the default for a caller that gave no
    client; the callers that pass one decide its timeout."""
    stmt = sel.parent.parent if sel.parent is not None else None
    if stmt is None or stmt.type != "assignment_statement":
        return False
    targets = [t for t, a in assignments_in(stmt) if a.value is not None and a.value.id == sel.id]
    cur = stmt.parent
    while cur is not None and cur.type not in ("if_statement", *FUNC_TYPES):
        cur = cur.parent
    cond = cur.child_by_field_name("condition") if cur is not None else None
    if cond is None or cond.type != "binary_expression" or not targets:
        return False
    sides = {text(cond.child_by_field_name("left")), text(cond.child_by_field_name("right"))}
    op = text(cond.child_by_field_name("operator"))
    return op == "==" and sides == {"nil", text(targets[0])}


_CREDENTIALS = re.compile(r"(?i)identity|credential|creds|token|^sts|assumerole")
"""Credential and token providers fetch outside any caller's context (minio-go's
``Provider.Retrieve()``, oauth2's ``TokenSource.Token()`` take none)."""


def _takes_context(pkg: GoPackage, func: ts.Node) -> bool:
    """``func`` has a ``context.Context`` parameter."""
    params = func.child_by_field_name("parameters")
    f = pkg.file_of(func)
    return any(
        f.qualified(decl.child_by_field_name("type")) == ("context", "Context")
        for decl in (params.named_children if params is not None else ())
    )


def _handed_on_under_context(pkg: GoPackage, lit: ts.Node, key: str | None) -> bool:
    """The client is handed to another library (an SDK's options) and sends nothing
    itself here, in a function that takes the caller's ``context.Context``: it is built
    for that caller's operation, whose deadline is the caller's business (as for a
    request built with it). Not for a client given to a credential or token provider,
    whose fetches take no context."""
    func = outermost_function(lit)
    if func is None or not _takes_context(pkg, func):
        return False
    if key is not None and any(
        _client_key(receiver_of(c)) == key for _, c in pkg.selector_calls("Do", *_DEFAULT_CALLS)
    ):
        return False  # it sends requests here: judged by them
    if _CREDENTIALS.search(text(func.child_by_field_name("name"))):
        return False
    holder = key.lstrip(".") if key is not None else None
    for n in walk(func, into_funcs=True):
        if n.type != "composite_literal":
            continue
        typ = text(n.child_by_field_name("type")).rsplit(".", 1)[-1]
        if not _CREDENTIALS.search(typ):
            continue
        body = text(n.child_by_field_name("body"))
        if n.start_byte <= lit.start_byte < n.end_byte or (
            holder and re.search(rf"\b{re.escape(holder)}\b", body)
        ):
            return False
    return True


def _command_line(facts: PackageFacts) -> bool:
    """A ``cli`` package that neither starts a server nor writes responses (it may take
    an ``*http.Request``: its client's ``Do(req)``): its clients run one command a
    person waits for, not a server's goroutines."""
    pkg = facts.pkg
    if not {pkg.name, *pkg.dir.split("/")} & _CLI_NAMES or facts.starts:
        return False
    for f, param in pkg.captured("param"):
        typ = param.child_by_field_name("type")
        if f.qualified(typ) == (HTTP, "ResponseWriter"):
            return False
    return True


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    if _command_line(facts):
        return
    for f, lit in pkg.captured("lit"):
        if f.qualified(lit.child_by_field_name("type")) != (HTTP, "Client"):
            continue
        if literal_field(lit, "Timeout") is not None:
            continue
        key = _holder_key(lit)
        if (
            _timeout_set_later(pkg, lit, key)
            or _transport_bounds_headers(pkg, lit)
            or _requests_all_bounded(pkg, key)
            or _handed_on_under_context(pkg, lit, key)
        ):
            continue
        yield RULE.finding(
            "http.Client without Timeout: a slow or silent upstream holds the calling "
            "goroutine, its request and its buffers forever",
            f.location(lit),
            [f.evidence(lit)],
        )
    if not facts.serves:
        return
    for f, call in pkg.package_calls(HTTP, *_DEFAULT_CALLS):
        yield RULE.finding(
            f"http.{text(call.child_by_field_name('function')).split('.')[-1]} uses "
            "http.DefaultClient, which has no timeout: in server code a stuck upstream "
            "piles up one goroutine per request",
            f.location(call),
            [f.evidence(call)],
        )
    for f, sel in pkg.captured("dsm"):
        if f.qualified(sel) != (HTTP, "DefaultClient"):
            continue
        if _do_with_bounded_request(pkg, sel) or _nil_fallback(sel):
            continue
        yield RULE.finding(
            "http.DefaultClient has no timeout: in server code a stuck upstream piles "
            "up one goroutine per request",
            f.location(sel),
            [f.evidence(sel)],
        )


RULE: Rule[PackageFacts] = Rule(
    id="KP114",
    name="http-client-without-timeout",
    severity=Severity.WARNING,
    summary="http.Client{} without Timeout; http.Get/Post/DefaultClient in server code.",
    docs=RuleDocs(
        what=(
            "`http.Client{…}` literals without `Timeout`, and, in packages that serve "
            "requests, calls of `http.Get`, `http.Post`, `http.Head`, `http.PostForm` and "
            "uses of `http.DefaultClient`. A client is bounded, and not reported, when its "
            "`Timeout` is set after construction (in its function, or anywhere in the "
            "package on the variable or field it is kept in), when its Transport is an "
            "`http.Transport` with `ResponseHeaderTimeout`, or when every request it sends "
            "(`client.Do(req)`, `http.DefaultClient.Do(req)`) is built with "
            "`http.NewRequestWithContext` (or `req.WithContext`) on a context with a "
            "deadline or one the caller passed in (a request rebound with "
            "`req = req.WithContext(ctx)` before it is sent counts; a client a method "
            "returns is judged by the requests sent through `x.client().Do(req)`). A "
            "Transport built by a helper given its timeouts "
            "(`NewDeadlineTransport(connectTimeout, requestTimeout)`) bounds the client too. "
            "A handler's own `r.Context()` has no deadline. A client that sends nothing "
            "itself here but is handed to another library (an SDK's options) inside a "
            "function that takes a `context.Context` is built for that caller's "
            "operation, whose deadline is the caller's business as well; not when it "
            "goes to a credential or token provider (`LDAPIdentity`, a token source, a "
            "function named for credentials), whose fetches take no context. Not reported: "
            "`http.DefaultClient` as the fallback for a nil client a caller passed "
            "(`if c == nil { c = http.DefaultClient }`), clients of a `cli` package "
            "that neither serves nor handles requests (one command a person waits for), "
            "and, in a tree that builds a program, clients in a plain function nothing in "
            "the tree calls or names (tests aside; the skipped list counts them)."
        ),
        why=(
            "Go's default client waits forever for a response. When an upstream hangs, "
            "every request that calls it parks a goroutine with its request, response "
            "buffers and connection; traffic keeps arriving, the count keeps growing, "
            "and the process is OOM-killed or fails its liveness probe and is restarted."
        ),
        example="```go\nresp, err := http.Get(inventoryURL + id)\n```",
        fix=(
            "Use one shared `&http.Client{Timeout: 5 * time.Second}` (or per-request "
            "contexts with deadlines via `http.NewRequestWithContext`)."
        ),
        references=(
            "https://pkg.go.dev/net/http#Client",
            "https://blog.cloudflare.com/the-complete-guide-to-golang-net-http-timeouts/",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package upstream\n\nimport "net/http"\n\n'
            "var client = &http.Client{Transport: http.DefaultTransport}\n\n"
            "func Fetch(url string) (*http.Response, error) {\n\treturn client.Get(url)\n}\n",
            "upstream.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package upstream\n\nimport (\n\t"net/http"\n\t"time"\n)\n\n'
            "var client = &http.Client{Timeout: 5 * time.Second}\n\n"
            "func Fetch(url string) (*http.Response, error) {\n\treturn client.Get(url)\n}\n",
            "upstream.go",
        ),
    ),
    family="go",
)
