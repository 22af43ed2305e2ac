"""KP118 serve-before-signal: a blocking Serve/ListenAndServe that runs before the signal
subscription of the same function, which it therefore never reaches."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.package import GoFile
from killproof.sources.golang.signals import Subscription
from killproof.sources.golang.syntax import FUNC_TYPES, contains, text

# Nodes a blocking call may sit in and still run in line: `log.Fatal(srv.Serve(l))`,
# `err := srv.ListenAndServe()`, `if err := …; err != nil {`, `return srv.Serve(l)`.
_IN_LINE = frozenset(
    {
        "argument_list",
        "call_expression",
        "expression_list",
        "expression_statement",
        "short_var_declaration",
        "assignment_statement",
        "return_statement",
        "parenthesized_expression",
        "statement_list",
    }
)


def blocking_in(call: ts.Node) -> ts.Node | None:
    """The function declaration whose own statements run ``call`` in line (not in a
    goroutine, a func literal, a loop, a deferred call or a branch), else None."""
    child, cur = call, call.parent
    while cur is not None:
        if cur.type in ("function_declaration", "method_declaration"):
            return cur
        if cur.type == "block":
            parent = cur.parent
            if parent is None or parent.type not in ("function_declaration", "method_declaration"):
                return None
        elif cur.type == "if_statement":
            if child not in (
                cur.child_by_field_name("initializer"),
                cur.child_by_field_name("condition"),
            ):
                return None
        elif cur.type in FUNC_TYPES or cur.type not in _IN_LINE:
            return None
        child, cur = cur, cur.parent
    return None


def _later_subscription(facts: PackageFacts, func: ts.Node, call: ts.Node) -> Subscription | None:
    """The first subscription written in ``func`` after ``call``."""
    for s in facts.subscriptions:
        if contains(func, s.call) and s.call.start_byte > call.end_byte:
            return s
    return None


def _blocked(facts: PackageFacts) -> Iterator[tuple[GoFile, ts.Node, ts.Node, Subscription]]:
    """(file, blocking call, the serve call it stands for, the subscription it keeps
    from running): a serve in line before a subscription of the same function, or a
    call of a package function that serves in line, made in line before one."""
    serving: dict[str, ts.Node] = {}
    for start in facts.starts:
        func = blocking_in(start.call)
        if func is None:
            continue
        sub = _later_subscription(facts, func, start.call)
        if sub is not None:
            yield start.file, start.call, start.call, sub
        serving.setdefault(text(func.child_by_field_name("name")), start.call)
    for name, serve in serving.items():
        for f, call in facts.pkg.calls_named(name):
            func = blocking_in(call)
            if func is None:
                continue
            sub = _later_subscription(facts, func, call)
            if sub is not None:
                yield f, call, serve, sub


def _check(facts: PackageFacts) -> Iterator[Finding]:
    if not facts.subscriptions:
        return
    for f, call, serve, sub in _blocked(facts):
        sf = sub.file
        evidence = [f.evidence(call), sf.evidence(sub.call)]
        if serve.id != call.id:
            evidence.insert(1, facts.pkg.file_of(serve).evidence(serve))
        yield RULE.finding(
            f"this call serves until the server fails, so the signal subscription on line "
            f"{sf.location(sub.call).line} is never reached: SIGTERM keeps Go's default "
            "action and kills the process mid-request, and the shutdown code after it is "
            "dead",
            f.location(call),
            evidence,
        )


RULE: Rule[PackageFacts] = Rule(
    id="KP118",
    name="serve-before-signal",
    severity=Severity.ERROR,
    summary="A blocking Serve/ListenAndServe before the signal.Notify it is meant to pair with.",
    docs=RuleDocs(
        what=(
            "A server start (`srv.ListenAndServe()`, `grpcServer.Serve(lis)`, "
            "`http.ListenAndServe`, echo `Start`, gin `Run`…) that runs in line in a "
            "function (not in a goroutine, a func literal, a loop or a branch) before a "
            "`signal.Notify`/`signal.NotifyContext` (or a signal helper) later in the "
            "same function; and a call, made the same way, of a package function that "
            "serves in line."
        ),
        why=(
            "Serve blocks until the server fails. Everything after it, the signal "
            "subscription and the Shutdown it was meant to trigger, runs only after the "
            "server is already gone. Until then SIGTERM keeps Go's default action: the "
            "process exits at once, dropping every request in flight, although the code "
            "looks as if it drains them."
        ),
        example=(
            "```go\nlog.Fatal(srv.ListenAndServe())\n"
            "ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)\n"
            "<-ctx.Done()\nsrv.Shutdown(sctx)\n```"
        ),
        fix=(
            "Subscribe first and serve in a goroutine: `go func() { errc <- "
            "srv.ListenAndServe() }()`, then wait for the signal (or errc) and call "
            "Shutdown."
        ),
        references=(
            "https://pkg.go.dev/net/http#Server.Shutdown",
            "https://pkg.go.dev/os/signal#NotifyContext",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"context"\n\t"log"\n\t"net/http"\n'
            '\t"os/signal"\n\t"syscall"\n\t"time"\n)\n\nfunc main() {\n'
            '\tsrv := &http.Server{Addr: ":8080", ReadHeaderTimeout: 5 * time.Second}\n'
            "\tif err := srv.ListenAndServe(); err != http.ErrServerClosed {\n"
            "\t\tlog.Print(err)\n\t}\n"
            "\tctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)\n"
            "\tdefer stop()\n\t<-ctx.Done()\n"
            "\tsctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)\n"
            "\tdefer cancel()\n\t_ = srv.Shutdown(sctx)\n}\n",
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"context"\n\t"log"\n\t"net/http"\n'
            '\t"os/signal"\n\t"syscall"\n\t"time"\n)\n\nfunc main() {\n'
            '\tsrv := &http.Server{Addr: ":8080", ReadHeaderTimeout: 5 * time.Second}\n'
            "\tctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)\n"
            "\tdefer stop()\n\tgo func() {\n"
            "\t\tif err := srv.ListenAndServe(); err != http.ErrServerClosed {\n"
            "\t\t\tlog.Print(err)\n\t\t}\n\t}()\n\t<-ctx.Done()\n"
            "\tsctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)\n"
            "\tdefer cancel()\n\t_ = srv.Shutdown(sctx)\n}\n",
            "main.go",
        ),
    ),
    family="go",
)
