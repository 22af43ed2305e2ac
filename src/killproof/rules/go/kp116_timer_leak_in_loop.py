"""KP116 timer-leak-in-loop: time.After in a select loop, and tickers that are never
stopped, in modules older than Go 1.23 (whose runtime collects neither)."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.syntax import FUNC_TYPES, text, walk

_FIXED_IN = (1, 23)


def _in_select_loop(call: ts.Node) -> bool:
    cur = call.parent
    in_select = False
    while cur is not None and cur.type not in FUNC_TYPES:
        if cur.type == "select_statement":
            in_select = True
        if cur.type == "for_statement" and in_select:
            return True
        cur = cur.parent
    return False


def _ticker_name(call: ts.Node) -> ts.Node | None:
    holder = call.parent
    if holder is None or holder.type != "expression_list":
        return None
    stmt = holder.parent
    if stmt is None or stmt.type != "short_var_declaration":
        return None
    left = stmt.child_by_field_name("left")
    if left is None or len(left.named_children) != 1:
        return None
    return left.named_children[0]


def _escapes_or_stops(func: ts.Node, name: str, decl: ts.Node) -> bool:
    for n in walk(func, into_funcs=True):
        if n.type != "identifier" or text(n) != name or n.id == decl.id:
            continue
        parent = n.parent
        if parent is not None and parent.type == "selector_expression":
            field = text(parent.child_by_field_name("field"))
            if field == "C":
                continue
            if field in ("Stop", "Reset"):
                return True
        # Returned, stored, passed on: its owner may stop it elsewhere.
        return True
    return False


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    version = pkg.go_version_tuple()
    # From Go 1.23 (go.mod's go line decides, via the asynctimerchan GODEBUG default)
    # unreferenced timers and tickers are collected, stopped or not, fired or not.
    if version is None or version >= _FIXED_IN:
        return
    for f, call in pkg.package_calls("time", "After"):
        if _in_select_loop(call):
            yield RULE.finding(
                f"time.After in a select loop allocates a timer each iteration that "
                f"is not freed until it fires (go.mod says go {pkg.go_version}; fixed "
                "from 1.23)",
                f.location(call),
                [f.evidence(call)],
            )
    for f, call in pkg.package_calls("time", "NewTicker"):
        name = _ticker_name(call)
        func = call.parent
        while func is not None and func.type not in FUNC_TYPES:
            func = func.parent
        if name is None or func is None or text(name) == "_":
            continue
        if not _escapes_or_stops(func, text(name), name):
            yield RULE.finding(
                f"ticker `{text(name)}` is never stopped: before Go 1.23 (go.mod says go "
                f"{pkg.go_version}) it keeps firing and is never collected, even after the "
                "loop that reads it is gone",
                f.location(call),
                [f.evidence(call)],
            )


RULE: Rule[PackageFacts] = Rule(
    id="KP116",
    name="timer-leak-in-loop",
    severity=Severity.WARNING,
    summary="time.After in a for+select before Go 1.23; time.NewTicker never stopped.",
    docs=RuleDocs(
        what=(
            "When go.mod's `go` line is older than 1.23: `time.After` inside a `select` "
            "inside a `for`, and `t := time.NewTicker(d)` where `t` is never stopped, "
            "returned, stored or passed on. From Go 1.23 the runtime collects timers and "
            "tickers nobody references any more, so neither is reported there (nor when "
            "there is no go.mod to tell)."
        ),
        why=(
            "Before Go 1.23 a timer from `time.After` is only freed when it fires. In a "
            "loop that wakes up often (a busy channel) and a long timeout, thousands of "
            "live timers pile up per second: a slow leak that ends in an OOM kill. A "
            "ticker that is never stopped is never freed before Go 1.23 and keeps firing "
            "for the life of the process: one per call of the function that made it."
        ),
        example=(
            "```go\nfor {\n\tselect {\n\tcase m := <-msgs:\n\t\thandle(m)\n"
            "\tcase <-time.After(time.Minute):\n\t\tflush()\n\t}\n}\n```"
        ),
        fix=(
            "Create one `time.NewTimer` outside the loop and `Reset` it, and `defer "
            "t.Stop()` every ticker; or move go.mod to go 1.23 or later."
        ),
        references=(
            "https://go.dev/doc/go1.23#timer-changes",
            "https://pkg.go.dev/time#After",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package worker\n\nimport "time"\n\nfunc run(msgs <-chan string) {\n\tfor {\n'
            "\t\tselect {\n\t\tcase m := <-msgs:\n\t\t\t_ = m\n"
            "\t\tcase <-time.After(time.Minute):\n\t\t\treturn\n\t\t}\n\t}\n}\n",
            "worker.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package worker\n\nimport "time"\n\nfunc run(msgs <-chan string) {\n'
            "\tidle := time.NewTimer(time.Minute)\n\tdefer idle.Stop()\n\tfor {\n"
            "\t\tselect {\n\t\tcase m := <-msgs:\n\t\t\t_ = m\n"
            "\t\t\tidle.Reset(time.Minute)\n\t\tcase <-idle.C:\n\t\t\treturn\n\t\t}\n\t}\n}\n",
            "worker.go",
        ),
    ),
    family="go",
)
