"""KP104 exit-on-server-closed: exiting on ListenAndServe's error without excluding
http.ErrServerClosed, which it returns as soon as Shutdown starts."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.servers import (
    ServerStart,
    StartKind,
    receiver_key,
    receiver_of,
    server_kind,
)
from killproof.sources.golang.signals import is_exit
from killproof.sources.golang.syntax import (
    call_args,
    call_parts,
    outermost_function,
    text,
    unparen,
    walk,
)
from killproof.sources.golang.values import assignments_in, definitions, statements

_CLOSED = "ErrServerClosed"


def _exit_in(f: GoFile, node: ts.Node | None) -> ts.Node | None:
    if node is None:
        return None
    for n in walk(node):
        if n.type == "call_expression" and is_exit(f, n):
            return n
    return None


def _exit_site(start: ServerStart) -> ts.Node | None:
    f, call = start.file, start.call
    args = call.parent
    if args is not None and args.type == "argument_list":
        outer = args.parent
        if outer is not None and outer.type == "call_expression" and is_exit(f, outer):
            return outer
        return None
    stmt = call.parent
    while stmt is not None and stmt.type in ("expression_list",):
        stmt = stmt.parent
    if stmt is None:
        return None
    if stmt.type in ("short_var_declaration", "assignment_statement"):
        holder = stmt.parent
        if holder is not None and holder.type == "if_statement":
            return _judge_if(f, holder)
        if holder is None:
            return None
        body = holder.parent if holder.type == "statement_list" else holder
        stmts = statements(body)
        for i, s in enumerate(stmts):
            if s.id == stmt.id and i + 1 < len(stmts) and stmts[i + 1].type == "if_statement":
                return _judge_if(f, stmts[i + 1])
    return None


def _judge_if(f: GoFile, if_stmt: ts.Node) -> ts.Node | None:
    if _CLOSED in text(if_stmt.child_by_field_name("condition")):
        return None
    consequence = if_stmt.child_by_field_name("consequence")
    if _CLOSED in text(consequence):
        return None
    return _exit_in(f, consequence)


def _closed_keys(pkg: GoPackage) -> set[str]:
    """Keys (:func:`receiver_key`) of every ``x.Shutdown(…)`` and ``x.Close()`` receiver."""
    calls = [c for _, c in pkg.selector_calls("Shutdown")]
    calls += [c for _, c in pkg.calls_named("Close") if not call_args(c)]
    return {receiver_key(r) for c in calls if (r := receiver_of(c)) is not None}


def _server_keys(pkg: GoPackage, start: ServerStart) -> tuple[set[str], bool]:
    """The names the started server goes by in the package, and whether it leaves the
    package's sight (passed to a call, returned): then someone else may close it."""
    receiver = start.holder
    if receiver is None:
        return set(), False
    keys = {receiver_key(receiver)}
    receiver = unparen(receiver)
    if receiver is None or receiver.type != "identifier":
        return keys, False
    name = text(receiver)
    for d in definitions(pkg, receiver):
        value = unparen(d.value)
        if value is not None and value.type in ("identifier", "selector_expression"):
            keys.add(receiver_key(value))  # srv := a.server
    func = outermost_function(receiver)
    if func is None:
        return keys, False
    for n in walk(func, into_funcs=True):
        if n.type != "identifier" or text(n) != name or n.id == receiver.id:
            continue
        parent = n.parent
        holder = parent.parent if parent is not None else None
        if parent is None or holder is None:
            continue
        if parent.type == "argument_list" or holder.type == "return_statement":
            return keys, True  # closeServer(srv), return srv
        if parent.type == "literal_element" and holder.type == "keyed_element":
            keys.add("." + text(holder.named_children[0]))  # App{server: srv}
        if holder.type == "assignment_statement" and holder.child_by_field_name("right") == parent:
            keys.update(receiver_key(target) for target, _ in assignments_in(holder))
    for caller_key in _caller_arguments(pkg, func, name):
        keys.add(caller_key)
    return keys, False


def _caller_arguments(pkg: GoPackage, func: ts.Node, param: str) -> list[str]:
    """Keys of what the package's callers of ``func`` pass for parameter ``param``."""
    if func.type not in ("function_declaration", "method_declaration"):
        return []
    params = func.child_by_field_name("parameters")
    index = -1
    i = 0
    for decl in params.named_children if params is not None else ():
        names = decl.children_by_field_name("name") or [decl]
        for n in names:
            if text(n) == param:
                index = i
            i += 1
    if index < 0:
        return []
    fname = text(func.child_by_field_name("name"))
    out: list[str] = []
    for _, call in pkg.calls_named(fname):
        args = call_args(call)
        if index < len(args):
            out.append(receiver_key(args[index]))
    return out


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    closed: set[str] | None = None
    for start in facts.starts:
        # gRPC's Serve returns nil after GracefulStop, not ErrServerClosed.
        if start.kind is not StartKind.METHOD or start.framework == "grpc":
            continue
        parts = call_parts(start.call)
        if parts is None or parts[1] not in (
            "ListenAndServe",
            "ListenAndServeTLS",
            "Serve",
            "ServeTLS",
            "Start",
            "StartTLS",
        ):
            continue
        if server_kind(pkg, start.holder) == "grpc":
            continue
        exit_call = _exit_site(start)
        if exit_call is None:
            continue
        # ErrServerClosed only comes after Shutdown or Close on this very server.
        if closed is None:
            closed = _closed_keys(pkg)
        keys, escapes = _server_keys(pkg, start)
        if not escapes and not keys & closed:
            continue
        f = start.file
        yield RULE.finding(
            "the process exits on ListenAndServe's error without excluding "
            "http.ErrServerClosed: Shutdown makes it return at once, so the process dies "
            "while connections are still draining",
            f.location(exit_call),
            [f.evidence(exit_call)],
        )


RULE: Rule[PackageFacts] = Rule(
    id="KP104",
    name="exit-on-server-closed",
    # info: on 38 public projects (docs/precision.md) no finding was judged a defect.
    severity=Severity.INFO,
    summary="log.Fatal/os.Exit on ListenAndServe's error without excluding ErrServerClosed.",
    docs=RuleDocs(
        what=(
            "`log.Fatal(srv.ListenAndServe())`, and `if err := srv.ListenAndServe(); err != "
            "nil { log.Fatal(err) }` (or `os.Exit`, `panic`, any logger's `Fatal`) where "
            "neither the condition nor the branch mentions `http.ErrServerClosed`, when "
            "that error can happen: the package calls `Shutdown` or `Close` on the same "
            "server (by its variable or struct field, or what its callers pass in), or "
            "hands the server to other code. gRPC servers are left alone: their `Serve` "
            "returns nil after `GracefulStop`.\n\n"
            "Severity **info**: measured on 38 public Go projects (docs/precision.md), none "
            "of its findings was a defect a reviewer would fix (servers nothing shuts down, "
            "or shut down through code the rule cannot follow). A rule that cannot show "
            "80 % of its findings true is reported as info (issue 11)."
        ),
        why=(
            "`ListenAndServe` returns `ErrServerClosed` immediately when `Shutdown` is "
            "called, while Shutdown is still waiting for requests to finish. Exiting on "
            "that error ends the process mid-drain: the graceful shutdown you wrote never "
            "gets to finish, and clients see reset connections."
        ),
        example=(
            "```go\ngo func() { log.Fatal(srv.ListenAndServe()) }()\n"
            "<-ctx.Done()\nsrv.Shutdown(sctx)\n```"
        ),
        fix=(
            "Exit only on other errors: `if err := srv.ListenAndServe(); "
            "!errors.Is(err, http.ErrServerClosed) { log.Fatal(err) }`."
        ),
        references=("https://pkg.go.dev/net/http#Server.Shutdown",),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"context"\n\t"log"\n\t"net/http"\n)\n\n'
            "func serve(srv *http.Server) {\n\tlog.Fatal(srv.ListenAndServe())\n}\n\n"
            "func stop(ctx context.Context, srv *http.Server) error {\n"
            "\treturn srv.Shutdown(ctx)\n}\n",
            "serve.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"context"\n\t"errors"\n\t"log"\n\t"net/http"\n)\n\n'
            "func serve(srv *http.Server) {\n"
            "\tif err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {\n"
            "\t\tlog.Fatal(err)\n\t}\n}\n\n"
            "func stop(ctx context.Context, srv *http.Server) error {\n"
            "\treturn srv.Shutdown(ctx)\n}\n",
            "serve.go",
        ),
    ),
    family="go",
)
