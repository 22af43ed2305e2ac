"""KP111 goroutine-never-exits: ``go func(){ for { … } }()`` with no way out."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.facts import PackageFacts
from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.signals import is_exit
from killproof.sources.golang.syntax import call_parts, first_named, text, unparen, walk
from killproof.sources.golang.values import statements

_BREAKABLE = (
    "for_statement",
    "select_statement",
    "expression_switch_statement",
    "type_switch_statement",
)


def _goroutine_body(pkg: GoPackage, f: GoFile, go: ts.Node) -> tuple[GoFile, ts.Node] | None:
    call = unparen(first_named(go))
    if call is None or call.type != "call_expression":
        return None
    fn = unparen(call.child_by_field_name("function"))
    if fn is None:
        return None
    if fn.type == "func_literal":
        body = fn.child_by_field_name("body")
        return (f, body) if body is not None else None
    parts = call_parts(call)
    if parts is None or (parts[0] and parts[0] in f.names):
        return None
    decls = [
        (df, d)
        for df, d in pkg.functions.get(parts[1], [])
        if (d.type == "method_declaration") == bool(parts[0])
    ]
    if len(decls) != 1:
        return None
    body = decls[0][1].child_by_field_name("body")
    return (decls[0][0], body) if body is not None else None


def _is_forever(stmt: ts.Node) -> bool:
    return stmt.type == "for_statement" and all(
        c.type in ("block", "comment") for c in stmt.named_children
    )


def _has_exit(f: GoFile, loop: ts.Node) -> bool:
    label = ""
    parent = loop.parent
    if parent is not None and parent.type == "labeled_statement":
        label = text(parent.child_by_field_name("label"))
    for n in walk(loop):
        if n.type in ("return_statement", "goto_statement"):
            return True
        if n.type == "break_statement":
            target = first_named(n)
            if target is not None:
                if text(target) == label:
                    return True
                continue
            # An unlabelled break leaves the nearest for/select/switch only.
            cur = n.parent
            while cur is not None and cur.type not in _BREAKABLE:
                cur = cur.parent
            if cur is not None and cur.id == loop.id:
                return True
        if n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and (parts[1] in ("Done", "Goexit") or is_exit(f, n)):
                return True
    return False


def _started_once(go: ts.Node) -> bool:
    """Started straight from ``main`` or ``init`` (not in a loop): one goroutine for the
    life of the process, which is a design, not a leak."""
    cur = go.parent
    while cur is not None:
        if cur.type in ("for_statement", "func_literal"):
            return False
        if cur.type == "function_declaration":
            return text(cur.child_by_field_name("name")) in ("main", "init")
        cur = cur.parent
    return False


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    for f, go in pkg.captured("go"):
        if _started_once(go):
            continue
        found = _goroutine_body(pkg, f, go)
        if found is None:
            continue
        bf, body = found
        for stmt in statements(body):
            if _is_forever(stmt) and not _has_exit(bf, stmt):
                yield RULE.finding(
                    "this goroutine loops forever: no return, no ctx.Done(), no break or "
                    "closed channel ends it, so it and everything it references live "
                    "until the process dies",
                    f.location(go),
                    [f.evidence(go), bf.evidence(stmt)],
                )
                break


RULE: Rule[PackageFacts] = Rule(
    id="KP111",
    name="goroutine-never-exits",
    severity=Severity.WARNING,
    summary="go func(){ for { … } }() with no return path, no ctx.Done(), no channel end.",
    docs=RuleDocs(
        what=(
            "A goroutine (a func literal, or a function of the package started with `go`) "
            "whose body has a `for { … }` loop with no `return`, no `break` out of it, no "
            "`goto`, no `ctx.Done()`/`done` check and no exit call."
        ),
        why=(
            "Such a goroutine can never be stopped. Started once, it is only a leak at "
            "shutdown (it keeps the process from finishing cleanly); started per request, "
            "per connection or per tenant, each one keeps its stack and everything it "
            "captured, and memory climbs until the OOM killer steps in."
        ),
        example=(
            "```go\ngo func() {\n\tfor {\n\t\tpoll()\n\t\ttime.Sleep(time.Second)\n\t}\n}()\n```"
        ),
        fix=(
            "Give it a way out: `select { case <-ctx.Done(): return; case <-ticker.C: }`, "
            "or range over a channel that the owner closes."
        ),
        references=(
            "https://go.dev/blog/pipelines",
            "https://github.com/uber-go/goleak",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package poller\n\nimport "time"\n\nfunc Start() {\n\tgo func() {\n'
            "\t\tfor {\n\t\t\tpoll()\n\t\t\ttime.Sleep(time.Second)\n\t\t}\n\t}()\n}\n\n"
            "func poll() {}\n",
            "poller.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package poller\n\nimport (\n\t"context"\n\t"time"\n)\n\n'
            "func Start(ctx context.Context) {\n\tgo func() {\n"
            "\t\tt := time.NewTicker(time.Second)\n\t\tdefer t.Stop()\n\t\tfor {\n"
            "\t\t\tselect {\n\t\t\tcase <-ctx.Done():\n\t\t\t\treturn\n"
            "\t\t\tcase <-t.C:\n\t\t\t\tpoll()\n\t\t\t}\n\t\t}\n\t}()\n}\n\n"
            "func poll() {}\n",
            "poller.go",
        ),
    ),
    family="go",
)
