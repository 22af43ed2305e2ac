"""KP119 sigterm-swallowed: SIGTERM is taken from Go's default handler by signal.Notify or
NotifyContext, and then nothing acts on it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.signals import SIGNAL_PKG, Subscription, receives_from
from killproof.sources.golang.syntax import (
    call_parts,
    first_named,
    outermost_function,
    text,
    unparen,
    walk,
)
from killproof.sources.golang.values import local_assignments, statements

# A statement that only reports: log.Print*, fmt.Print*, logger.Info/Warn/Error/Debug…
_LOGGING = re.compile(r"^(Print|Info|Warn|Debug|Error|Log|Notice|Trace)[A-Za-z]*$")


def _context_name(sub: Subscription) -> str | None:
    """``ctx`` of ``ctx, stop := signal.NotifyContext(…)``; "_" when discarded."""
    holder = sub.call.parent
    if holder is None or holder.type != "expression_list" or holder.parent is None:
        return None
    left = holder.parent.child_by_field_name("left")
    if left is None or not left.named_children:
        return None
    target = left.named_children[0]
    return text(target) if target.type in ("identifier", "blank_identifier") else None


def _uses(scope: ts.Node, name: str, declared: ts.Node) -> list[ts.Node]:
    """Identifiers ``name`` in ``scope`` other than at its declaration."""
    return [
        n
        for n in walk(scope, into_funcs=True)
        if n.type == "identifier"
        and text(n) == name
        and not (declared.start_byte <= n.start_byte < declared.end_byte)
    ]


def _only_logs(stmts: list[ts.Node]) -> bool:
    for stmt in stmts:
        if stmt.type != "expression_statement":
            return False
        call = unparen(first_named(stmt))
        parts = call_parts(call) if call is not None and call.type == "call_expression" else None
        if parts is None or not parts[0] or not _LOGGING.match(parts[1]):
            return False
    return True


def _receive_that_only_logs(use: ts.Node) -> bool:
    """``use`` is received from (``<-c``, ``<-ctx.Done()``) as a statement of a goroutine
    (or of an endless loop that is all of a goroutine) whose other statements only log."""
    expr: ts.Node = use
    parent = expr.parent
    if parent is not None and parent.type == "selector_expression":
        call = parent.parent
        if (
            call is None
            or call.type != "call_expression"
            or text(parent.child_by_field_name("field")) != "Done"
        ):
            return False
        expr = call
    receive = expr.parent
    if receive is None or receives_from(receive) is None:
        return False
    stmt = receive.parent
    if stmt is not None and stmt.type == "expression_list":
        stmt = stmt.parent  # sig := <-c
    if stmt is None or stmt.type not in ("expression_statement", "short_var_declaration"):
        return False
    block = stmt.parent
    if block is not None and block.type == "statement_list":
        block = block.parent
    owner = block.parent if block is not None else None
    if block is None or owner is None:
        return False
    siblings = [s for s in statements(block) if s.id != stmt.id]
    if not _only_logs(siblings):
        return False
    if owner.type == "for_statement" and owner.named_child_count == 1:
        loop_block = owner.parent
        if loop_block is not None and loop_block.type == "statement_list":
            loop_block = loop_block.parent
        if loop_block is None or loop_block.parent is None:
            return False
        others = [s for s in statements(loop_block) if s.id != owner.id]
        if not _only_logs(others):
            return False
        owner = loop_block.parent
    if owner.type != "func_literal":
        return False
    call = owner.parent
    go = call.parent if call is not None else None
    return go is not None and go.type == "go_statement"


def _scopes(pkg: GoPackage, func: ts.Node, ident: ts.Node) -> list[ts.Node] | None:
    """Where ``ident`` can be used: its function when it is declared there, every file
    of the package when it is a package-level variable, None for a parameter (the
    caller keeps it and may act on it)."""
    name = text(ident)
    for fld in ("receiver", "parameters"):
        params = func.child_by_field_name(fld)
        for decl in params.named_children if params is not None else ():
            if any(text(n) == name for n in decl.children_by_field_name("name")):
                return None
    if local_assignments(func, name) or any(
        n.type == "var_spec" and any(text(x) == name for x in n.children_by_field_name("name"))
        for n in walk(func, into_funcs=True)
    ):
        return [func]
    return [f.tree.root_node for f in pkg.files]


def _swallowed(pkg: GoPackage, sub: Subscription) -> str | None:
    """Why nothing acts on this subscription, or None when something may."""
    func = outermost_function(sub.call)
    if func is None:
        return None
    if sub.context:
        name = _context_name(sub)
        if name is None:
            return None
        if name == "_":
            return "the context NotifyContext returns is discarded"
        decl = sub.call.parent.parent if sub.call.parent is not None else None
        target = decl.child_by_field_name("left") if decl is not None else None
        ident = target.named_children[0] if target is not None else None
        what = f"`{name}`"
    else:
        ident = unparen(sub.channel)
        if ident is None or ident.type != "identifier":
            return None
        decl = sub.call
        name = text(ident)
        what = f"channel `{name}`"
    if ident is None or decl is None:
        return None
    scopes = _scopes(pkg, func, ident)
    if scopes is None:
        return None
    uses = [u for scope in scopes for u in _uses(scope, name, decl) if not _declares(u)]
    if not uses:
        return f"{what} is never received from or passed on"
    # Any other use (passed on, returned, stored, received where something follows)
    # reaches code that may act on the signal.
    if all(_receive_that_only_logs(u) for u in uses):
        return f"{what} is only received in a goroutine that logs and carries on"
    return None


def _declares(ident: ts.Node) -> bool:
    """``c`` in ``c := make(…)`` or ``var c = …``: not a use."""
    parent = ident.parent
    if parent is not None and parent.type == "var_spec":
        return True
    holder = parent.parent if parent is not None else None
    return (
        parent is not None
        and parent.type == "expression_list"
        and holder is not None
        and holder.type in ("short_var_declaration", "assignment_statement")
        and holder.child_by_field_name("left") == parent
    )


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    for sub in facts.subscriptions:
        if sub.helper or not sub.may_handle_sigterm:
            continue
        if not sub.file.is_call_to(sub.call, SIGNAL_PKG, "Notify", "NotifyContext"):
            continue
        why = _swallowed(pkg, sub)
        if why is None:
            continue
        f = sub.file
        yield RULE.finding(
            f"SIGTERM no longer stops the process, and nothing stops it instead: {why}. "
            "The pod keeps serving until it is SIGKILLed at the end of the grace period",
            f.location(sub.call),
            [f.evidence(sub.call)],
        )


RULE: Rule[PackageFacts] = Rule(
    id="KP119",
    name="sigterm-swallowed",
    severity=Severity.ERROR,
    summary="signal.Notify/NotifyContext takes SIGTERM and nothing acts on it.",
    docs=RuleDocs(
        what=(
            "`signal.Notify(c, …)` or `signal.NotifyContext(ctx, …)` whose signals include "
            "SIGTERM (or may), where the channel or the returned context is never used "
            "again in its function (or the context is assigned to `_`), or is only "
            "received from in a goroutine that logs and carries on. A channel or context "
            "that is passed to other code, returned, stored, or received where something "
            "follows is taken to be acted on."
        ),
        why=(
            "Once a program subscribes to SIGTERM, Go no longer exits on it: the program "
            "must stop itself. When nothing does, `docker stop`, a deploy or a node drain "
            "waits out the whole grace period (30 s by default in Kubernetes) while the "
            "pod keeps taking traffic, and ends with SIGKILL: requests in flight are cut "
            "and the shutdown code never runs."
        ),
        example=(
            "```go\nsigs := make(chan os.Signal, 1)\n"
            "signal.Notify(sigs, syscall.SIGTERM)\n"
            'go func() { <-sigs; log.Print("terminating") }()\n'
            "log.Fatal(srv.ListenAndServe())\n```"
        ),
        fix=(
            "Act on the signal: on `<-ctx.Done()` (or `<-sigs`) call `srv.Shutdown` with "
            "a deadline and let `main` return; or do not subscribe to SIGTERM at all."
        ),
        references=(
            "https://pkg.go.dev/os/signal#hdr-Changing_the_behavior_of_signals_in_Go_programs",
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"log"\n\t"net/http"\n\t"os"\n\t"os/signal"\n'
            '\t"syscall"\n)\n\nfunc main() {\n\tsigs := make(chan os.Signal, 1)\n'
            "\tsignal.Notify(sigs, syscall.SIGTERM)\n"
            '\tgo func() {\n\t\t<-sigs\n\t\tlog.Print("terminating")\n\t}()\n'
            '\tlog.Print(http.ListenAndServe(":8080", nil))\n}\n',
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"context"\n\t"log"\n\t"net/http"\n\t"os"\n'
            '\t"os/signal"\n\t"syscall"\n\t"time"\n)\n\nfunc main() {\n'
            '\tsrv := &http.Server{Addr: ":8080", ReadHeaderTimeout: 5 * time.Second}\n'
            "\tsigs := make(chan os.Signal, 1)\n\tsignal.Notify(sigs, syscall.SIGTERM)\n"
            "\tgo func() {\n\t\t<-sigs\n"
            "\t\tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)\n"
            "\t\tdefer cancel()\n\t\t_ = srv.Shutdown(ctx)\n\t}()\n"
            "\tlog.Print(srv.ListenAndServe())\n}\n",
            "main.go",
        ),
    ),
    family="go",
)
