"""KP103 shutdown-without-deadline: an http.Server's Shutdown(ctx) with a context that never
expires, and a gRPC server's GracefulStop with no Stop to fall back on."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.contexts import Deadline, deadline_of
from killproof.sources.golang.servers import (
    GRPC,
    HTTP,
    receiver_key,
    receiver_of,
    server_kind,
)
from killproof.sources.golang.syntax import call_args
from killproof.sources.golang.watchdog import watchdog_before

# Servers whose Shutdown(ctx) waits for the connections (echo's calls http.Server's).
_SHUTDOWN_KINDS = ("http", "echo")


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    if not facts.starts and not pkg.imports_path(HTTP, GRPC):
        return
    for f, call in pkg.selector_calls("Shutdown"):
        args = call_args(call)
        if len(args) != 1 or f.call_target(call) is not None:
            continue
        # Only a server's Shutdown drains connections; a tracer provider's or a
        # client's Shutdown(ctx) is another matter.
        if server_kind(pkg, receiver_of(call)) not in _SHUTDOWN_KINDS:
            continue
        if deadline_of(pkg, args[0]) is Deadline.NONE and not watchdog_before(f, call):
            yield RULE.finding(
                "Shutdown waits for every connection with a context that has no deadline: "
                "one slow request keeps the process alive until it is SIGKILLed",
                f.location(call),
                [f.evidence(call)],
            )
    if pkg.imports_path(GRPC):
        yield from _graceful_stops(facts)


def _graceful_stops(facts: PackageFacts) -> Iterator[Finding]:
    """``s.GracefulStop()`` of a gRPC server with no ``s.Stop`` anywhere in the package
    (the usual fallback: ``time.AfterFunc(d, s.Stop)`` or a select on a timer)."""
    pkg = facts.pkg
    stops: set[str] | None = None
    for f, call in pkg.selector_calls("GracefulStop"):
        receiver = receiver_of(call)
        if call_args(call) or server_kind(pkg, receiver) not in ("grpc", ""):
            continue
        if stops is None:
            stops = {
                receiver_key(ref.child_by_field_name("operand"))
                for _, ref in pkg.named_references("Stop")
                if ref.type == "selector_expression"
            }
        if receiver_key(receiver) in stops or watchdog_before(f, call):
            continue
        yield RULE.finding(
            "GracefulStop waits for every RPC and stream to finish, with no deadline: one "
            "long stream keeps the process alive until it is SIGKILLed",
            f.location(call),
            [f.evidence(call)],
            remedy=(
                "Bound it: run GracefulStop in a goroutine and call Stop when a timer "
                "shorter than the grace period fires first."
            ),
        )


RULE: Rule[PackageFacts] = Rule(
    id="KP103",
    name="shutdown-without-deadline",
    severity=Severity.WARNING,
    summary="Server Shutdown(ctx) with no deadline; gRPC GracefulStop with no Stop fallback.",
    docs=RuleDocs(
        what=(
            "`srv.Shutdown(ctx)` of an `http.Server` (or an echo server, or a type that "
            "embeds one) where `ctx` is `context.Background()`, `context.TODO()`, or a "
            "`WithCancel` of them, followed through local assignments; and a gRPC "
            "server's `GracefulStop()` when the package never calls `Stop` on that server "
            "(the fallback when a timer fires first). `Shutdown` methods of other types "
            "(OpenTelemetry providers, clients) are not servers and are left alone; so "
            "is a receiver whose type cannot be told. Neither is reported when a function "
            "around the call first arms a process watchdog (`time.AfterFunc(d, func() "
            "{ os.Exit(1) })`, `log.Fatal` or `panic` in it, or a goroutine that waits on "
            "`time.After`/`Sleep` and then exits): the wait is bounded by `d`."
        ),
        why=(
            "Shutdown returns only when every connection is idle or the context ends, "
            "and GracefulStop only when every RPC and stream has finished. A long poll, "
            "a stuck upstream, a client that never reads or a streaming RPC keeps it "
            "waiting past the grace period, and the kubelet or systemd then SIGKILLs the "
            "process: the cleanup after it never runs."
        ),
        example=("```go\nsrv.Shutdown(context.Background())\n…\ngrpcServer.GracefulStop()\n```"),
        fix=(
            "Give Shutdown a deadline shorter than the grace period: "
            "`ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)`; "
            "for gRPC, `t := time.AfterFunc(20*time.Second, s.Stop); s.GracefulStop(); "
            "t.Stop()`."
        ),
        references=(
            "https://pkg.go.dev/net/http#Server.Shutdown",
            "https://pkg.go.dev/google.golang.org/grpc#Server.GracefulStop",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package server\n\nimport (\n\t"context"\n\t"net/http"\n)\n\n'
            "func stop(srv *http.Server) error {\n\tctx := context.Background()\n"
            "\treturn srv.Shutdown(ctx)\n}\n",
            "server.go",
        ),
        Example(
            "go",
            'package server\n\nimport "google.golang.org/grpc"\n\n'
            "func stop(s *grpc.Server) {\n\ts.GracefulStop()\n}\n",
            "grpc.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package server\n\nimport (\n\t"context"\n\t"net/http"\n\t"time"\n)\n\n'
            "func stop(srv *http.Server) error {\n"
            "\tctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)\n"
            "\tdefer cancel()\n\treturn srv.Shutdown(ctx)\n}\n",
            "server.go",
        ),
        Example(
            "go",
            'package server\n\nimport (\n\t"time"\n\n\t"google.golang.org/grpc"\n)\n\n'
            "func stop(s *grpc.Server) {\n\tt := time.AfterFunc(20*time.Second, s.Stop)\n"
            "\tdefer t.Stop()\n\ts.GracefulStop()\n}\n",
            "grpc.go",
        ),
    ),
    family="go",
)
