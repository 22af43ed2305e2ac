"""KP110 unbounded-goroutines: a goroutine per request or per item, with no limit."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.facts import PackageFacts
from killproof.sources.golang.syntax import FUNC_TYPES, call_parts, text, walk

_BOUND_CALLS = frozenset({"Acquire", "TryAcquire", "SetLimit", "Accept"})


def _per_item_loop(go: ts.Node) -> ts.Node | None:
    """The nearest enclosing loop that runs once per item (range over values, a
    ``len(...)`` bound, or an infinite loop receiving work), within the same function."""
    cur = go.parent
    while cur is not None and cur.type not in FUNC_TYPES:
        if cur.type == "for_statement":
            return cur if _loops_per_item(cur) else None
        cur = cur.parent
    return None


def _loops_per_item(loop: ts.Node) -> bool:
    for child in loop.named_children:
        if child.type == "range_clause":
            right = child.child_by_field_name("right")
            if right is not None and right.type == "composite_literal":
                return False  # a list written in the code: its length is fixed
            left = child.child_by_field_name("left")
            names = [text(n) for n in left.named_children] if left is not None else []
            # `for _, v := range xs` / `for k, v := range m`: one pass per element.
            return len(names) == 2 and names[1] != "_"
        if child.type == "for_clause":
            cond = child.child_by_field_name("condition")
            return "len(" in text(cond)
        if child.type not in ("block", "comment"):
            return False
    # `for { … }`: per item when the body takes work from a channel.
    body = loop.child_by_field_name("body")
    return (
        any(
            n.type == "unary_expression" and text(n.child_by_field_name("operator")) == "<-"
            for n in walk(body)
        )
        if body is not None
        else False
    )


def _bounded(scope: ts.Node) -> bool:
    """A semaphore send, Acquire, SetLimit or an Accept loop in sight."""
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


def _check(facts: PackageFacts) -> Iterator[Finding]:
    for f, go in facts.pkg.captured("go"):
        loop = _per_item_loop(go)
        func = _function(go)
        if loop is not None:
            if _bounded(loop) or (func is not None and _bounded_before(func, loop)):
                continue
            why = "once per loop item"
        elif func is not None and facts.request_paths.any and facts.request_paths.contains(go):
            if _bounded(func):
                continue
            why = "once per request"
        else:
            continue
        yield RULE.finding(
            f"a goroutine is started {why} with no limit in sight (semaphore, "
            "errgroup.SetLimit, worker pool): a burst starts as many as it likes",
            f.location(go),
            [f.evidence(go)],
        )


def _bounded_before(func: ts.Node, loop: ts.Node) -> bool:
    """``g.SetLimit(n)`` or a semaphore created before the loop in the same function."""
    for n in walk(func):
        if n.start_byte >= loop.start_byte:
            break
        if n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and parts[1] in ("SetLimit", "NewWeighted"):
                return True
    return False


RULE: Rule[PackageFacts] = Rule(
    id="KP110",
    name="unbounded-goroutines",
    severity=Severity.WARNING,
    summary="A go statement per request or per loop item with no bound in sight.",
    docs=RuleDocs(
        what=(
            "`go` statements inside a handler (or anything it calls) and inside loops that "
            "run once per item (`for _, v := range items`, `i < len(items)`, `for { x := "
            "<-work … }`), when there is no buffered-channel semaphore send, "
            "`semaphore.Weighted.Acquire`, `errgroup.SetLimit` or fixed-size worker pool "
            "in sight. Accept loops are left alone."
        ),
        why=(
            "Every goroutine costs at least a few KiB of stack plus whatever it holds "
            "(request bodies, buffers, connections). Unbounded, the count follows the "
            "input: a traffic spike or a large batch starts tens of thousands at once and "
            "the process is OOM-killed, or it exhausts a downstream that then slows "
            "everything further."
        ),
        example="```go\nfor _, id := range ids {\n\tgo fetch(id)\n}\n```",
        fix=(
            "Bound the concurrency: `errgroup.Group` with `SetLimit(n)`, a "
            "`make(chan struct{}, n)` semaphore, or n workers reading from a channel."
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
            'package batch\n\nimport "sync"\n\nfunc fetchAll(ids []string) {\n'
            "\tvar wg sync.WaitGroup\n\tfor _, id := range ids {\n\t\twg.Add(1)\n"
            "\t\tgo func() {\n\t\t\tdefer wg.Done()\n\t\t\tfetch(id)\n\t\t}()\n\t}\n"
            "\twg.Wait()\n}\n\nfunc fetch(string) {}\n",
            "batch.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package batch\n\nimport "sync"\n\nfunc fetchAll(ids []string) {\n'
            "\tvar wg sync.WaitGroup\n\tsem := make(chan struct{}, 8)\n"
            "\tfor _, id := range ids {\n\t\twg.Add(1)\n\t\tsem <- struct{}{}\n"
            "\t\tgo func() {\n\t\t\tdefer func() { <-sem; wg.Done() }()\n"
            "\t\t\tfetch(id)\n\t\t}()\n\t}\n\twg.Wait()\n}\n\nfunc fetch(string) {}\n",
            "batch.go",
        ),
    ),
    family="go",
)
