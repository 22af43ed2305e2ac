"""KP105 exit-skips-cleanup: os.Exit/log.Fatal on the signal path before cleanup runs."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.package import GoFile
from killproof.sources.golang.signals import is_exit, receives_from
from killproof.sources.golang.syntax import (
    FUNC_TYPES,
    call_parts,
    enclosing_function,
    first_named,
    outermost_function,
    text,
    unparen,
    walk,
)

CLEANUP = frozenset({"Shutdown", "GracefulStop", "Close", "Stop", "Flush", "Sync"})


def _signal_names(facts: PackageFacts) -> tuple[set[str], set[str]]:
    """Texts of signal channels, and names of NotifyContext contexts."""
    chans: set[str] = set()
    ctxs: set[str] = set()
    for sub in facts.subscriptions:
        if sub.channel is not None:
            chans.add(text(sub.channel))
        elif sub.context:
            holder = sub.call.parent
            if holder is not None and holder.type == "expression_list":
                decl = holder.parent
                left = decl.child_by_field_name("left") if decl is not None else None
                if left is not None and left.named_children:
                    ctxs.add(text(left.named_children[0]))
    return chans, ctxs


def _is_signal_receive(node: ts.Node, chans: set[str], ctxs: set[str]) -> bool:
    ch = receives_from(node)
    if ch is None:
        return False
    ch = unparen(ch)
    if ch is None:
        return False
    if text(ch) in chans:
        return True
    if ch.type == "call_expression":
        parts = call_parts(ch)
        return parts is not None and parts[1] == "Done" and parts[0] in ctxs
    return False


def _path_after(receive: ts.Node) -> list[ts.Node]:
    """The statements that run after the signal arrives, in order."""
    cur: ts.Node | None = receive
    while cur is not None and cur.parent is not None:
        parent = cur.parent
        if parent.type == "communication_case":
            out: list[ts.Node] = []
            for c in parent.named_children:
                if c.type == "statement_list":
                    out.extend(x for x in c.named_children if x.type != "comment")
                elif c.id != cur.id and c.type != "comment":
                    out.append(c)
            return out
        if parent.type == "statement_list":
            sibs = [c for c in parent.named_children if c.type != "comment"]
            return sibs[[s.id for s in sibs].index(cur.id) + 1 :]
        if parent.type in FUNC_TYPES:
            return []
        cur = parent
    return []


def _cleanup_calls(f: GoFile, scope: ts.Node) -> list[ts.Node]:
    out = []
    for n in walk(scope, into_funcs=True):
        if n.type == "call_expression":
            parts = call_parts(n)
            if parts is not None and parts[0] and parts[1] in CLEANUP and not f.call_target(n):
                out.append(n)
    return out


def _check(facts: PackageFacts) -> Iterator[Finding]:
    chans, ctxs = _signal_names(facts)
    if not chans and not ctxs:
        return
    files = {sub.file.path: sub.file for sub in facts.subscriptions}
    seen: set[int] = set()
    for f in files.values():
        for node in walk(f.tree.root_node, into_funcs=True):
            if node.type != "unary_expression" or not _is_signal_receive(node, chans, ctxs):
                continue
            for stmt in _path_after(node):
                if stmt.type != "expression_statement":
                    continue
                call = unparen(first_named(stmt))
                if call is None or call.type != "call_expression" or not is_exit(f, call):
                    continue
                if (call_parts(call) or ("", ""))[1] == "panic" or call.id in seen:
                    continue
                skipped = _skipped_cleanup(f, node, call)
                if skipped is not None:
                    seen.add(call.id)
                    yield RULE.finding(
                        f"the process exits here on the signal path, so "
                        f"`{text(skipped).splitlines()[0]}` never completes",
                        f.location(call),
                        [f.evidence(call), f.evidence(skipped)],
                    )
                break


def _skipped_cleanup(f: GoFile, receive: ts.Node, exit_call: ts.Node) -> ts.Node | None:
    outer = outermost_function(exit_call) or enclosing_function(exit_call)
    if outer is None:
        return None
    for c in _cleanup_calls(f, outer):
        parent = c.parent
        in_defer = parent is not None and parent.type in ("defer_statement", "go_statement")
        if in_defer and c.start_byte < exit_call.start_byte:
            return c
        if c.start_byte > exit_call.end_byte:
            return c
    return None


RULE: Rule[PackageFacts] = Rule(
    id="KP105",
    name="exit-skips-cleanup",
    severity=Severity.ERROR,
    summary="os.Exit/log.Fatal on the signal path before Shutdown/Close calls complete.",
    docs=RuleDocs(
        what=(
            "After a signal is received (`<-sigCh`, `case <-sigCh:`, `<-ctx.Done()` of a "
            "`NotifyContext`), an unconditional `os.Exit` or `log.Fatal*` while a "
            "`Shutdown`/`Close`/`Stop`/`Flush`/`Sync` is deferred, started in a goroutine, "
            "or written after it in the same function."
        ),
        why=(
            "`os.Exit` (and `log.Fatal`, which calls it) ends the process at once: deferred "
            "calls do not run and other goroutines stop mid-step. The server's Shutdown, "
            "the database Close and the log flush you wrote for SIGTERM are skipped, so "
            "requests are cut and buffered writes are lost at every deploy."
        ),
        example="```go\n<-sigs\ngo srv.Shutdown(ctx)\nos.Exit(0)\n```",
        fix=(
            "Let the signal path call Shutdown and Close and wait for them, then return "
            "from main (or exit after they complete)."
        ),
        references=(
            "https://pkg.go.dev/os#Exit",
            "https://go-critic.com/overview.html#exitafterdefer",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"context"\n\t"net/http"\n\t"os"\n\t"os/signal"\n'
            '\t"syscall"\n)\n\nfunc wait(srv *http.Server) {\n'
            "\tsigs := make(chan os.Signal, 1)\n\tsignal.Notify(sigs, syscall.SIGTERM)\n"
            "\t<-sigs\n\tgo srv.Shutdown(context.TODO())\n\tos.Exit(0)\n}\n",
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"context"\n\t"net/http"\n\t"os"\n\t"os/signal"\n'
            '\t"syscall"\n\t"time"\n)\n\nfunc wait(srv *http.Server) {\n'
            "\tsigs := make(chan os.Signal, 1)\n\tsignal.Notify(sigs, syscall.SIGTERM)\n"
            "\t<-sigs\n"
            "\tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)\n"
            "\tdefer cancel()\n\t_ = srv.Shutdown(ctx)\n}\n",
            "main.go",
        ),
    ),
    family="go",
)
