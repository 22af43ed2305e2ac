"""KP104 exit-on-server-closed: exiting on ListenAndServe's error without excluding
http.ErrServerClosed, which it returns as soon as Shutdown starts."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.facts import PackageFacts
from killproof.sources.golang.package import GoFile
from killproof.sources.golang.servers import ServerStart, StartKind
from killproof.sources.golang.signals import is_exit
from killproof.sources.golang.syntax import call_parts, text, walk
from killproof.sources.golang.values import statements

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


def _check(facts: PackageFacts) -> Iterator[Finding]:
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
        exit_call = _exit_site(start)
        if exit_call is None:
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
    severity=Severity.ERROR,
    summary="log.Fatal/os.Exit on ListenAndServe's error without excluding ErrServerClosed.",
    docs=RuleDocs(
        what=(
            "`log.Fatal(srv.ListenAndServe())`, and `if err := srv.ListenAndServe(); err != "
            "nil { log.Fatal(err) }` (or `os.Exit`, `panic`, any logger's `Fatal`) where "
            "neither the condition nor the branch mentions `http.ErrServerClosed`."
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
            'package main\n\nimport (\n\t"log"\n\t"net/http"\n)\n\n'
            "func serve(srv *http.Server) {\n\tlog.Fatal(srv.ListenAndServe())\n}\n",
            "serve.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"errors"\n\t"log"\n\t"net/http"\n)\n\n'
            "func serve(srv *http.Server) {\n"
            "\tif err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {\n"
            "\t\tlog.Fatal(err)\n\t}\n}\n",
            "serve.go",
        ),
    ),
    family="go",
)
