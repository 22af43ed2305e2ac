"""KP103 shutdown-without-deadline: Shutdown(ctx) with a context that never expires."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.contexts import Deadline, deadline_of
from killproof.sources.golang.facts import PackageFacts
from killproof.sources.golang.syntax import call_args


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    if not facts.starts and not pkg.imports_path("net/http", "google.golang.org/grpc"):
        return
    for f, call in pkg.selector_calls("Shutdown"):
        args = call_args(call)
        if len(args) != 1 or f.call_target(call) is not None:
            continue
        if deadline_of(pkg, args[0]) is Deadline.NONE:
            yield RULE.finding(
                "Shutdown waits for every connection with a context that has no deadline: "
                "one slow request keeps the process alive until it is SIGKILLed",
                f.location(call),
                [f.evidence(call)],
            )


RULE: Rule[PackageFacts] = Rule(
    id="KP103",
    name="shutdown-without-deadline",
    severity=Severity.WARNING,
    summary="Shutdown(ctx) with a context that has no deadline.",
    docs=RuleDocs(
        what=(
            "`srv.Shutdown(ctx)` where `ctx` is `context.Background()`, `context.TODO()`, "
            "or a `WithCancel` of them, followed through local assignments."
        ),
        why=(
            "Shutdown returns only when every connection is idle or the context ends. "
            "A long poll, a stuck upstream or a client that never reads keeps it waiting "
            "past the grace period, and the kubelet or systemd then SIGKILLs the process: "
            "the cleanup after Shutdown never runs."
        ),
        example="```go\nsrv.Shutdown(context.Background())\n```",
        fix=(
            "Give Shutdown a deadline shorter than the grace period: "
            "`ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)`."
        ),
        references=("https://pkg.go.dev/net/http#Server.Shutdown",),
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
    ),
    family="go",
)
