"""KP106 unbuffered-signal-channel: signal.Notify on a channel with no buffer."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.syntax import call_args, text, unparen
from killproof.sources.golang.values import values_of


def _is_unbuffered_make(node: ts.Node) -> bool:
    node_u = unparen(node)
    if node_u is None or node_u.type != "call_expression":
        return False
    if text(node_u.child_by_field_name("function")) != "make":
        return False
    args = call_args(node_u)
    if not args or args[0].type != "channel_type":
        return False
    return len(args) == 1 or text(args[1]).strip() == "0"


def _check(facts: PackageFacts) -> Iterator[Finding]:
    for sub in facts.subscriptions:
        if sub.channel is None:
            continue
        values = values_of(facts.pkg, sub.channel)
        if not values or not all(_is_unbuffered_make(v) for v in values):
            continue
        f = sub.file
        made = values[0]
        yield RULE.finding(
            f"signal.Notify sends without blocking: `{text(sub.channel)}` has no buffer, so "
            "a SIGTERM that arrives while nobody is receiving is dropped",
            f.location(sub.call),
            [f.evidence(sub.call), facts.pkg.file_of(made).evidence(made)],
        )


RULE: Rule[PackageFacts] = Rule(
    id="KP106",
    name="unbuffered-signal-channel",
    severity=Severity.WARNING,
    summary="signal.Notify on an unbuffered channel.",
    docs=RuleDocs(
        what=(
            "`signal.Notify(c, …)` where `c` was made with `make(chan os.Signal)` (no "
            "capacity, or 0), followed through local variables and struct fields."
        ),
        why=(
            "The signal package never blocks when it delivers: if the receiving goroutine "
            "is not waiting at that instant, the signal is lost. A lost SIGTERM means no "
            "graceful shutdown; the process is SIGKILLed at the end of the grace period."
        ),
        example="```go\nc := make(chan os.Signal)\nsignal.Notify(c, syscall.SIGTERM)\n```",
        fix="Give the channel a buffer of at least 1: `make(chan os.Signal, 1)`.",
        references=(
            "https://pkg.go.dev/os/signal#Notify",
            "https://staticcheck.dev/docs/checks/#SA1017",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"os"\n\t"os/signal"\n\t"syscall"\n)\n\n'
            "func wait() {\n\tc := make(chan os.Signal)\n"
            "\tsignal.Notify(c, syscall.SIGTERM)\n\t<-c\n}\n",
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"os"\n\t"os/signal"\n\t"syscall"\n)\n\n'
            "func wait() {\n\tc := make(chan os.Signal, 1)\n"
            "\tsignal.Notify(c, syscall.SIGTERM)\n\t<-c\n}\n",
            "main.go",
        ),
    ),
    family="go",
)
