"""KP110 unbounded-goroutines: a goroutine per request or per item, with no limit."""

from __future__ import annotations

import re
from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.memo import memo
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.spawns import (
    Repeats,
    Spawn,
    ends_with_context,
    joined_after,
    leaves_loop_after,
    per_connection,
    spawn_of,
    waits_in_loop,
)
from killproof.sources.golang.syntax import FUNC_TYPES, call_parts, text, walk
from killproof.sources.golang.values import statements

_BOUND_CALLS = frozenset({"Acquire", "TryAcquire", "SetLimit", "Accept"})


@memo
def _bounded(scope: ts.Node) -> bool:
    """A semaphore send, Acquire, SetLimit or an Accept loop in sight (read once per
    function or loop, however many ``go`` statements it holds)."""
    for n in walk(scope, into_funcs=True):
        if n.type == "send_statement":
            return True
        if n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and parts[1] in _BOUND_CALLS:
                return True
    return False


def _function(node: ts.Node) -> ts.Node | None:
    cur = node.parent
    while cur is not None and cur.type not in FUNC_TYPES:
        cur = cur.parent
    return cur


def _unbounded_why(spawn: Spawn, spawn_pkg: GoPackage) -> str | None:
    """Why the goroutine count follows the traffic, or None when it does not: once at
    start-up, per element of a configured collection, per accepted connection (a
    server's normal shape), or a fan-out the request waits for."""
    why = _traffic_why(spawn, spawn_pkg)
    if why is None:
        return None
    if spawn.loop is not None and (
        leaves_loop_after(spawn.go) or waits_in_loop(spawn.go, spawn.loop)
    ):
        return None  # at most one per pass that runs to completion
    if per_connection(spawn.go, spawn.loop):
        return None
    return why


def _traffic_why(spawn: Spawn, spawn_pkg: GoPackage) -> str | None:
    """What the count follows, judged by what drives the loop and the request path."""
    if spawn.repeats is Repeats.PER_MESSAGE:
        return "once per message received"
    if not spawn.per_request or spawn.repeats in (Repeats.FIXED, Repeats.PER_CONNECTION):
        return None
    if joined_after(spawn.go) or ends_with_context(spawn.go, spawn_pkg):
        return None
    if spawn.repeats is Repeats.PER_ITEM:
        return "per element, in every request, and nothing waits for them"
    return "once per request, and the request does not wait for it"


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    for f, go in pkg.captured("go"):
        spawn = spawn_of(pkg, facts.request_paths, f, go)
        why = _unbounded_why(spawn, pkg)
        if why is None:
            continue
        func = _function(go)
        if spawn.loop is not None:
            if _bounded(spawn.loop) or (func is not None and _bounded_before(func, spawn.loop)):
                continue
        elif func is not None and (_bounded(func) or _refused_while_busy(func, go)):
            continue
        yield RULE.finding(
            f"a goroutine is started {why}, with no limit in sight (semaphore, "
            "errgroup.SetLimit, worker pool): a burst starts as many as it likes",
            f.location(go),
            [f.evidence(go)],
        )


_BUSY = re.compile(
    r"(?i)busy|running|in_?progress|ongoing|locked|active|started|TryLock|CompareAndSwap"
)
"""A condition that asks whether a job of the kind is already going."""


def _refused_while_busy(func: ts.Node, go: ts.Node) -> bool:
    """An ``if`` before the ``go`` that returns when a job is already running
    (``if m.isBusy(site) { …409…; return }``, ``if !mu.TryLock() { return }``,
    ``if !running.CompareAndSwap(false, true) { return }``): at most one goroutine per
    guard, however many requests ask."""
    first = _first_busy_guard(func)
    return first is not None and first <= go.start_byte


@memo
def _first_busy_guard(func: ts.Node) -> int | None:
    """The end byte of the first busy guard in ``func`` (read once per function, however
    many ``go`` statements it holds)."""
    for n in walk(func):
        if n.type != "if_statement":
            continue
        cond = n.child_by_field_name("condition")
        then = n.child_by_field_name("consequence")
        if cond is None or then is None or not _BUSY.search(text(cond)):
            continue
        if any(c.type == "return_statement" for c in statements(then)):
            return n.end_byte
    return None


def _bounded_before(func: ts.Node, loop: ts.Node) -> bool:
    """``g.SetLimit(n)`` or a semaphore created before the loop in the same function."""
    first = _first_limit(func)
    return first is not None and first < loop.start_byte


@memo
def _first_limit(func: ts.Node) -> int | None:
    """The start byte of the first ``SetLimit``/``NewWeighted`` call in ``func``."""
    for n in walk(func):
        if n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and parts[1] in ("SetLimit", "NewWeighted"):
                return n.start_byte
    return None


RULE: Rule[PackageFacts] = Rule(
    id="KP110",
    name="unbounded-goroutines",
    # info: on 18 public projects (docs/precision.md) no finding was judged a defect.
    severity=Severity.INFO,
    summary="A go statement per message, or per request and not waited for, with no bound.",
    docs=RuleDocs(
        what=(
            "`go` statements whose count follows the traffic, with no buffered-channel "
            "semaphore send, `semaphore.Weighted.Acquire`, `errgroup.SetLimit` or "
            "fixed-size worker pool in sight: one per message of a consumer loop "
            "(`for m := range msgs`, `for { m := <-work … }`, `sub.Messages()`, "
            "`stream.Recv()`, `for sc.Scan()`), and one per request in a handler (or "
            "anything it calls) that outlives the request: the handler does not wait for "
            "it (no `wg.Wait()`, `g.Wait()` or receive after it) and it does not end "
            "with a context's `Done()`. Not reported: goroutines started once at "
            "start-up, one per element of a configured collection (peers, listeners, "
            "collectors, rules) or per count, fan-outs the function waits for, one per "
            "timer or ticker tick, one per pass of a loop that leaves (`break`, "
            "`return`) or waits (`<-done`, `wg.Wait()`) right after starting it, and the "
            "shapes that follow open connections (a server's normal shape): one per "
            "accepted connection, per connection, stream or SSH channel a loop ranges "
            "over, per hijacked connection, per request upgraded to a WebSocket (started "
            "once after `upgrader.Upgrade(w, r, …)`, not in a loop), one started outside a loop "
            "by a function handed an accepted connection (a `net.Conn`, `*net.TCPConn` or "
            "`*tls.Conn` parameter: `onAccept(c net.Conn) { go serve(c) }`), per new peer (`if !ok` after a map lookup), "
            "and one that watches a connection until it closes (`<-c.Closed()`), and "
            "goroutines that end by themselves (they wait on `ctx.Done()` or run under a "
            "deadline they set), and a background job the handler refuses to start while "
            "one is running (an `if` before the `go` that returns when a busy flag, "
            "`TryLock` or `CompareAndSwap` says so: one per guard).\n\n"
            "Severity **info**: measured on 18 public Go projects (docs/precision.md), "
            "none of its findings was a defect a reviewer would fix; the ones left are "
            "goroutines per authenticated API call or per message of a trusted peer, "
            "where whether the count can run away depends on who may send. A rule that "
            "cannot show 80 % of its findings true is reported as info (issue 11)."
        ),
        why=(
            "Every goroutine costs at least a few KiB of stack plus whatever it holds "
            "(request bodies, buffers, connections). Unbounded, the count follows the "
            "input: a traffic spike or a backlog of messages starts tens of thousands at "
            "once and the process is OOM-killed, or it exhausts a downstream that then "
            "slows everything further."
        ),
        example="```go\nfor m := range msgs {\n\tgo handle(m)\n}\n```",
        fix=(
            "Bound the concurrency: `errgroup.Group` with `SetLimit(n)`, a "
            "`make(chan struct{}, n)` semaphore, or n workers reading from the channel."
        ),
        references=(
            "https://pkg.go.dev/golang.org/x/sync/errgroup#Group.SetLimit",
            "https://pkg.go.dev/golang.org/x/sync/semaphore",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            "package consumer\n\ntype Msg struct{ Body []byte }\n\n"
            "func Consume(msgs <-chan Msg, handle func(Msg)) {\n"
            "\tfor m := range msgs {\n\t\tgo handle(m)\n\t}\n}\n",
            "consumer.go",
        ),
    ),
    good=(
        Example(
            "go",
            "package consumer\n\ntype Msg struct{ Body []byte }\n\n"
            "func Consume(msgs <-chan Msg, handle func(Msg)) {\n"
            "\tfor i := 0; i < 8; i++ {\n\t\tgo func() {\n"
            "\t\t\tfor m := range msgs {\n\t\t\t\thandle(m)\n\t\t\t}\n\t\t}()\n\t}\n}\n",
            "consumer.go",
        ),
    ),
    family="go",
)
