"""How often a ``go`` statement runs: once (start-up, a constructor, a Start method), per
element of a collection, per message or per connection, per request.

KP110 (unbounded goroutines) and KP111 (goroutines that never exit) both turn on this:
a goroutine started once that lives for the process is a design, and one per configured
peer is bounded by the configuration; one per request, message or connection follows the
traffic.
"""

from __future__ import annotations

import bisect
import enum
import re
from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.memo import memo
from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.requests import RequestPaths
from killproof.sources.golang.syntax import (
    FUNC_TYPES,
    call_args,
    call_parts,
    first_named,
    outermost_function,
    text,
    unparen,
    walk,
)
from killproof.sources.golang.values import definitions


class Repeats(enum.Enum):
    """What one pass of the code around a ``go`` statement is driven by."""

    ONCE = "once"
    """Straight-line code: the goroutine is started as often as its function is called."""
    FIXED = "per element of a list written in the code"
    PER_ITEM = "per element of a collection"
    PER_MESSAGE = "per message received"
    PER_CONNECTION = "per accepted connection"
    PER_TICK = "per pass of an endless loop"

    @property
    def follows_traffic(self) -> bool:
        """True when the count grows with what arrives (messages, connections)."""
        return self in (Repeats.PER_MESSAGE, Repeats.PER_CONNECTION)


# Calls whose result a consumer loop ranges over, or that a loop body blocks on, to take
# the next message (channels of brokers, watches and subscriptions; stream receives).
_MESSAGE_SOURCES = frozenset(
    {
        *("Messages", "Chan", "Channel", "Events", "Updates", "ResultChan", "Consume"),
        *("Recv", "Receive", "ReadMessage", "ReadMsg", "FetchMessage", "ReceiveMessage"),
    }
)
_ACCEPTS = frozenset({"Accept", "AcceptTCP", "AcceptUnix", "AcceptStream"})


@dataclass(frozen=True)
class Spawn:
    """One ``go`` statement: the nearest loop around it in its function, what drives
    that loop, and whether it runs on a request path."""

    file: GoFile
    go: ts.Node
    loop: ts.Node | None
    repeats: Repeats
    per_request: bool


def enclosing_loop(node: ts.Node) -> ts.Node | None:
    """The nearest ``for`` around ``node`` within its own function."""
    cur = node.parent
    while cur is not None and cur.type not in FUNC_TYPES:
        if cur.type == "for_statement":
            return cur
        cur = cur.parent
    return None


def loop_repeats(pkg: GoPackage, f: GoFile, loop: ts.Node, inner: ts.Node | None = None) -> Repeats:
    """What drives one pass of ``loop``; ``inner`` (a node in its body) narrows a select
    loop to the case it sits in: a timer's case ticks, it does not bring messages."""
    condition: ts.Node | None = None
    for child in loop.named_children:
        if child.type == "range_clause":
            right = unparen(child.child_by_field_name("right"))
            if right is not None and right.type == "composite_literal":
                return Repeats.FIXED
            if right is not None and is_channel(pkg, f, right):
                return Repeats.PER_MESSAGE
            return Repeats.PER_ITEM
        if child.type == "for_clause":
            return Repeats.PER_ITEM
        if child.type not in ("block", "comment"):
            condition = child
    if condition is not None:
        # `for n < max {…}` counts; `for sc.Scan() {…}`, `for !done() {…}` read input.
        cond = unparen(condition)
        if cond is not None and cond.type == "unary_expression":
            cond = unparen(cond.child_by_field_name("operand"))
        return (
            Repeats.PER_MESSAGE
            if cond is not None and cond.type == "call_expression"
            else Repeats.PER_ITEM
        )
    case = _select_case(inner, loop) if inner is not None else None
    if case is not None:
        return _case_repeats(case)
    body = loop.child_by_field_name("body")
    receives = False
    for n in walk(body) if body is not None else ():
        if n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and parts[1] in _ACCEPTS:
                return Repeats.PER_CONNECTION
            if parts is not None and parts[0] and parts[1] in _MESSAGE_SOURCES:
                receives = True
        elif n.type == "unary_expression" and text(n.child_by_field_name("operator")) == "<-":
            receives = receives or not _is_timer(n.child_by_field_name("operand"))
    return Repeats.PER_MESSAGE if receives else Repeats.PER_TICK


def _select_case(node: ts.Node, loop: ts.Node) -> ts.Node | None:
    """The select case of ``loop``'s body that ``node`` runs in, if any."""
    cur = node.parent
    while cur is not None and cur.id != loop.id and cur.type not in FUNC_TYPES:
        if cur.type == "communication_case":
            return cur
        cur = cur.parent
    return None


def _case_repeats(case: ts.Node) -> Repeats:
    """A ``case v := <-ch:`` brings messages; a timer's, a ticker's or ``ctx.Done()``'s
    case ticks."""
    comm = case.child_by_field_name("communication")
    for n in walk(comm) if comm is not None else ():
        if n.type == "unary_expression" and text(n.child_by_field_name("operator")) == "<-":
            return (
                Repeats.PER_TICK
                if _is_timer(n.child_by_field_name("operand"))
                else Repeats.PER_MESSAGE
            )
    return Repeats.PER_TICK


def _is_timer(channel: ts.Node | None) -> bool:
    """``t.C``, ``time.After(d)``, ``time.Tick(d)``, ``ctx.Done()``: time passing or a
    cancellation, not work arriving."""
    channel = unparen(channel)
    if channel is None:
        return False
    if channel.type == "selector_expression":
        return text(channel.child_by_field_name("field")) == "C"
    if channel.type == "call_expression":
        parts = call_parts(channel)
        return parts is not None and parts[1] in ("After", "Tick", "Done")
    return False


def is_channel(pkg: GoPackage, f: GoFile, expr: ts.Node, depth: int = 0) -> bool:
    """True when ``expr`` is known to be a channel: a parameter or variable declared as
    one, ``make(chan …)``, a struct field of channel type, or a call of a well-known
    message source (``sub.Messages()``, ``w.ResultChan()``)."""
    expr_u = unparen(expr)
    if expr_u is None or depth > 3:
        return False
    if expr_u.type == "call_expression":
        parts = call_parts(expr_u)
        if parts is not None and parts[0] and parts[1] in _MESSAGE_SOURCES:
            return True
        fn = expr_u.child_by_field_name("function")
        args = expr_u.child_by_field_name("arguments")
        first = first_named(args) if args is not None else None
        return text(fn) == "make" and first is not None and first.type == "channel_type"
    if expr_u.type == "identifier":
        if _declared_channel(expr_u):
            return True
        return any(
            d.value is not None and is_channel(pkg, f, d.value, depth + 1)
            for d in definitions(pkg, expr_u)
        )
    if expr_u.type == "selector_expression":
        field = text(expr_u.child_by_field_name("field"))
        return field in _channel_fields(pkg)
    return False


def _declared_channel(ident: ts.Node) -> bool:
    """A parameter of the enclosing functions declared with a channel type."""
    name = text(ident)
    cur = ident.parent
    while cur is not None:
        if cur.type in FUNC_TYPES:
            params = cur.child_by_field_name("parameters")
            for decl in params.named_children if params is not None else ():
                typ = decl.child_by_field_name("type")
                if typ is None or typ.type != "channel_type":
                    continue
                if any(text(n) == name for n in decl.children_by_field_name("name")):
                    return True
        cur = cur.parent
    return False


def _channel_fields(pkg: GoPackage) -> frozenset[str]:
    """Names of struct fields declared with a channel type anywhere in the package."""
    out: set[str] = set()
    for f in pkg.files:
        if b"chan" not in f.source:
            continue
        for decl in f.tree.root_node.named_children:
            if decl.type != "type_declaration":
                continue
            for n in walk(decl):
                if n.type != "field_declaration":
                    continue
                typ = n.child_by_field_name("type")
                if typ is not None and typ.type == "channel_type":
                    out.update(text(name) for name in n.children_by_field_name("name"))
    return frozenset(out)


def spawn_of(pkg: GoPackage, paths: RequestPaths, f: GoFile, go: ts.Node) -> Spawn:
    """How often the ``go`` statement runs, judged where it is written."""
    loop = enclosing_loop(go)
    repeats = loop_repeats(pkg, f, loop, go) if loop is not None else Repeats.ONCE
    return Spawn(f, go, loop, repeats, paths.any and paths.contains(go))


def caller_repeats(pkg: GoPackage, paths: RequestPaths, go: ts.Node) -> tuple[Repeats, bool]:
    """For a ``go`` statement in straight-line code of function F: the most repeated way
    F is called within the package (one level), and whether a call is on a request path.

    Calls are found by a byte search for F's name, confirmed on the tree: no walk over
    every node of the package.
    """
    func = outermost_function(go)
    if func is None or func.type == "func_literal":
        return Repeats.ONCE, False
    name = text(func.child_by_field_name("name"))
    is_method = func.type == "method_declaration"
    worst = Repeats.ONCE
    on_request = False
    for f, call in pkg.calls_named(name):
        if call.id == go.id or _inside(call, func):
            continue
        parts = call_parts(call)
        if parts is None or bool(parts[0]) != is_method or parts[0] in f.names:
            continue  # a method for a function, or another package's function
        if paths.any and paths.contains(call):
            on_request = True
        loop = enclosing_loop(call)
        if loop is not None:
            kind = loop_repeats(pkg, f, loop, call)
            if _rank(kind) > _rank(worst):
                worst = kind
    return worst, on_request


def _rank(r: Repeats) -> int:
    return [
        Repeats.ONCE,
        Repeats.FIXED,
        Repeats.PER_TICK,
        Repeats.PER_ITEM,
        Repeats.PER_CONNECTION,
        Repeats.PER_MESSAGE,
    ].index(r)


def _inside(node: ts.Node, outer: ts.Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


def joined_after(go: ts.Node) -> bool:
    """True when the function that runs the ``go`` statement waits for its goroutines
    later on: ``wg.Wait()``, ``g.Wait()`` of an errgroup, or a receive (``err := <-errc``)
    after the statement."""
    cur = go.parent
    while cur is not None and cur.type not in FUNC_TYPES:
        cur = cur.parent
    if cur is None:
        return False
    joins = _joins(cur)
    return bool(joins) and joins[-1] >= go.end_byte


@memo
def _joins(scope: ts.Node) -> tuple[int, ...]:
    """Start bytes, in order, of the receives (``<-c``) and ``x.Wait()`` calls in
    ``scope``, not in nested func literals: read once per function or loop, so a
    function of thousands of ``go`` statements is not walked once for each."""
    out: list[int] = []
    for n in walk(scope):
        if n.type == "unary_expression" and text(n.child_by_field_name("operator")) == "<-":
            out.append(n.start_byte)
        elif n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and parts[0] and parts[1] == "Wait":
                out.append(n.start_byte)
    return tuple(out)


@memo
def _first_call(scope: ts.Node, name: str) -> int | None:
    """The start byte of the first call of a method or function ``name`` in ``scope``
    (not in nested func literals), None when there is none."""
    for n in walk(scope):
        if n.type == "call_expression" and (call_parts(n) or ("", ""))[1] == name:
            return n.start_byte
    return None


@memo
def _ends_by_itself(body: ts.Node) -> bool:
    """``body`` waits on some ``ctx.Done()`` or sets a deadline (``WithTimeout``)."""
    for n in walk(body):
        if n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and parts[0] and parts[1] == "Done":
                return True
            if parts is not None and parts[1].startswith(("WithTimeout", "WithDeadline")):
                return True
    return False


def ends_with_context(go: ts.Node, pkg: GoPackage | None = None) -> bool:
    """The goroutine ends by itself: its function waits on some ``ctx.Done()`` (it ends
    when the request, or whatever owns the context, does) or runs its work under a
    deadline it sets (``context.WithTimeout``/``WithDeadline``). Its function is the
    func literal started, or (given ``pkg``) a func literal held in a local variable or
    a package function of that name."""
    call = unparen(first_named(go))
    fn = unparen(call.child_by_field_name("function")) if call is not None else None
    bodies: list[ts.Node] = []
    if fn is not None and fn.type == "func_literal":
        bodies = [fn]
    elif fn is not None and fn.type == "identifier" and pkg is not None:
        held = [unparen(d.value) for d in definitions(pkg, fn) if d.value is not None]
        bodies = [v for v in held if v is not None and v.type == "func_literal"]
        bodies += [d for _, d in pkg.functions.get(text(fn), []) if d.type != "method_declaration"]
    return any(_ends_by_itself(body) for body in bodies)


def leaves_loop_after(go: ts.Node) -> bool:
    """``go f(); break`` (or ``return``) in the same block: the loop starts it once."""
    parent = go.parent
    siblings = parent.named_children if parent is not None else []
    return any(
        c.type in ("break_statement", "return_statement")
        for c in siblings
        if c.start_byte >= go.end_byte
    )


def waits_in_loop(go: ts.Node, loop: ts.Node) -> bool:
    """The same pass blocks after starting it (``<-done``, ``wg.Wait()``) before taking
    the next message: one (set of) goroutine(s) at a time. What the same pass runs next
    is the statements after the ``go`` in its own block and in each enclosing block up
    to the loop body (or the func literal between them); another ``case`` of a
    ``select`` or the ``else`` of an ``if`` is not. Nested func literals' receives are
    not the loop's."""
    scope = go.parent
    while scope is not None and scope.id != loop.id and scope.type not in FUNC_TYPES:
        scope = scope.parent
    if scope is None:
        return False
    joins = _joins(scope)
    cur = go
    while cur.parent is not None and cur.id != scope.id:
        parent = cur.parent
        if parent.type in ("block", "statement_list"):
            at = bisect.bisect_left(joins, cur.end_byte)
            if at < len(joins) and joins[at] < parent.end_byte:
                return True
        cur = parent
    return False


_CONNECTION_NAME = re.compile(r"(?i)(conn|connection|stream|session|newchannel)s?$")


def per_connection(go: ts.Node, loop: ts.Node | None) -> bool:
    """The goroutine's count follows open connections, a server's normal shape: it is
    started after the handler hijacks its connection or upgrades it to a WebSocket,
    only for a peer not seen before
    (``if !ok`` after a map lookup), to watch a connection close (``<-c.Closed()``),
    or once per connection, stream or SSH channel a loop ranges over."""
    func = go.parent
    while func is not None and func.type not in FUNC_TYPES:
        func = func.parent
    if func is not None:
        hijack = _first_call(func, "Hijack")
        if hijack is not None and hijack < go.start_byte:
            return True
        if loop is None and _upgraded_before(func, go):
            return True  # per upgraded connection, not per message read from it
        if loop is None and _takes_connection(func):
            return True  # ``onAccept(c net.Conn) { go serve(c) }``: once per connection
    if _guarded_by_missing_key(go) or _watches_close(go):
        return True
    if loop is None:
        return False
    for child in loop.named_children:
        if child.type == "range_clause":
            left = child.child_by_field_name("left")
            names = [text(n) for n in left.named_children] if left is not None else []
            return any(_CONNECTION_NAME.search(n) for n in names[-1:])
    return False


_CONN_TYPE = re.compile(r"^\*?(net\.(Conn|TCPConn|UnixConn)|tls\.Conn)$")


@memo
def _takes_connection(func: ts.Node) -> bool:
    """``func`` is handed one accepted connection (a ``net.Conn``, ``*net.TCPConn`` or
    ``*tls.Conn`` parameter): a goroutine it starts outside a loop is one per
    connection, the server's normal shape. Reads the parameter list only."""
    params = func.child_by_field_name("parameters")
    return any(
        _CONN_TYPE.match(text(decl.child_by_field_name("type")))
        for decl in (params.named_children if params is not None else ())
        if decl.type == "parameter_declaration"
    )


_UPGRADES = frozenset({"Upgrade", "UpgradeHTTP", "Accept"})
_HTTP_PARAM = re.compile(r"ResponseWriter$|http\.Request$")


def _upgraded_before(func: ts.Node, go: ts.Node) -> bool:
    """The handler upgraded its request to a WebSocket before ``go`` (gorilla's
    ``upgrader.Upgrade(w, r, nil)``, ``websocket.Accept(w, r, …)``, gobwas'
    ``ws.UpgradeHTTP(r, w)``): the goroutine serves that one connection."""
    at = _first_upgrade(func)
    return at is not None and at < go.start_byte


@memo
def _first_upgrade(func: ts.Node) -> int | None:
    """The start byte of ``func``'s first WebSocket upgrade of its own request or response
    writer (None: none). One walk per function, however many ``go`` statements ask."""
    params = func.child_by_field_name("parameters")
    names = {
        text(n)
        for decl in (params.named_children if params is not None else ())
        if _HTTP_PARAM.search(text(decl.child_by_field_name("type")))
        for n in decl.children_by_field_name("name")
    }
    if not names:
        return None
    for n in walk(func):
        if n.type != "call_expression" or (call_parts(n) or ("", ""))[1] not in _UPGRADES:
            continue
        if any(text(unparen(a)) in names for a in call_args(n)):
            return n.start_byte
    return None


def _guarded_by_missing_key(go: ts.Node) -> bool:
    """``if !ok { go … }`` where ``ok`` comes from ``v, ok := m[k]``: one per new key."""
    cur = go.parent
    while cur is not None and cur.type not in ("if_statement", *FUNC_TYPES):
        cur = cur.parent
    if cur is None or cur.type != "if_statement":
        return False
    cond = unparen(cur.child_by_field_name("condition"))
    if (
        cond is None
        or cond.type != "unary_expression"
        or text(cond.child_by_field_name("operator")) != "!"
    ):
        return False
    name = text(cond.child_by_field_name("operand"))
    func = outermost_function(go)
    for n in walk(func, into_funcs=True) if func is not None else ():
        if n.type not in ("short_var_declaration", "assignment_statement"):
            continue
        left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
        targets = [text(t) for t in left.named_children] if left is not None else []
        values = right.named_children if right is not None else []
        if targets[-1:] == [name] and len(values) == 1 and values[0].type == "index_expression":
            return True
    return False


def _watches_close(go: ts.Node) -> bool:
    """``go func() { <-conn.Closed(); … }()``: it lives as long as the connection."""
    call = unparen(first_named(go))
    fn = unparen(call.child_by_field_name("function")) if call is not None else None
    if fn is None or fn.type != "func_literal":
        return False
    for n in walk(fn):
        if n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and parts[0] and parts[1] == "Closed":
                return True
    return False
