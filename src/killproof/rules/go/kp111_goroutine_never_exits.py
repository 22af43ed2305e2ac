"""KP111 goroutine-never-exits: ``go func(){ for { … } }()`` with no way out."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.signals import is_exit
from killproof.sources.golang.spawns import Repeats, caller_repeats, spawn_of
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


_REPEATING = (Repeats.PER_MESSAGE, Repeats.PER_CONNECTION, Repeats.PER_TICK)


def _started_repeatedly(facts: PackageFacts, f: GoFile, go: ts.Node) -> str | None:
    """How the goroutine is started again and again (per request, message, connection,
    pass of an endless loop), or None: started once at start-up, or once per element of
    a configured collection, it lives as long as the process and is no leak."""
    pkg, paths = facts.pkg, facts.request_paths
    spawn = spawn_of(pkg, paths, f, go)
    if spawn.per_request:
        return "per request"
    if spawn.repeats in _REPEATING:
        return spawn.repeats.value
    if spawn.repeats is not Repeats.ONCE:
        return None
    caller, on_request = caller_repeats(pkg, paths, go)
    if on_request:
        return "per request (by its caller)"
    if caller in _REPEATING:
        return f"{caller.value} (by its caller)"
    return None


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    for f, go in pkg.captured("go"):
        found = _goroutine_body(pkg, f, go)
        if found is None:
            continue
        bf, body = found
        forever = next(
            (s for s in statements(body) if _is_forever(s) and not _has_exit(bf, s)), None
        )
        if forever is None:
            continue
        how = _started_repeatedly(facts, f, go)
        if how is None:
            continue
        yield RULE.finding(
            f"this goroutine is started {how} and loops forever: no return, no "
            "ctx.Done(), no break or closed channel ends it, so each one and everything it "
            "references live until the process dies",
            f.location(go),
            [f.evidence(go), bf.evidence(forever)],
        )


RULE: Rule[PackageFacts] = Rule(
    id="KP111",
    name="goroutine-never-exits",
    severity=Severity.WARNING,
    summary="A goroutine started per request/message/connection that loops forever.",
    docs=RuleDocs(
        what=(
            "A goroutine (a func literal, or a function of the package started with `go`) "
            "whose body has a `for { … }` loop with no `return`, no `break` out of it, no "
            "`goto`, no `ctx.Done()`/`done` check and no exit call, when it is started "
            "again and again: on a request path, in a loop per message or per accepted "
            "connection, in an endless loop, or in a function the package calls from one "
            "of those. A goroutine started once (from `main`, a constructor, a `Start` "
            "method, once per configured element) lives as long as the process by design "
            "and is not reported."
        ),
        why=(
            "Such a goroutine can never be stopped. Started per request, per message or "
            "per connection, each one keeps its stack and everything it captured after "
            "its work is done, and memory climbs with the traffic until the OOM killer "
            "steps in."
        ),
        example=(
            "```go\nfor {\n\tc, _ := l.Accept()\n\tgo func() {\n\t\tfor {\n"
            "\t\t\tc.Read(buf)\n\t\t}\n\t}()\n}\n```"
        ),
        fix=(
            "Give it a way out: `return` when a read fails or the connection closes, "
            "`select { case <-ctx.Done(): return; … }`, or range over a channel that the "
            "owner closes."
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
            'package relay\n\nimport "net"\n\nfunc Serve(l net.Listener) {\n\tfor {\n'
            "\t\tc, err := l.Accept()\n\t\tif err != nil {\n\t\t\treturn\n\t\t}\n"
            "\t\tgo func() {\n\t\t\tbuf := make([]byte, 4096)\n\t\t\tfor {\n"
            "\t\t\t\t_, _ = c.Read(buf)\n\t\t\t}\n\t\t}()\n\t}\n}\n",
            "relay.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package relay\n\nimport "net"\n\nfunc Serve(l net.Listener) {\n\tfor {\n'
            "\t\tc, err := l.Accept()\n\t\tif err != nil {\n\t\t\treturn\n\t\t}\n"
            "\t\tgo func() {\n\t\t\tdefer c.Close()\n\t\t\tbuf := make([]byte, 4096)\n"
            "\t\t\tfor {\n\t\t\t\tif _, err := c.Read(buf); err != nil {\n"
            "\t\t\t\t\treturn\n\t\t\t\t}\n\t\t\t}\n\t\t}()\n\t}\n}\n",
            "relay.go",
        ),
    ),
    family="go",
)
