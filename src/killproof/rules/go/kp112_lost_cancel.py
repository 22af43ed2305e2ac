"""KP112 lost-cancel: a context's cancel func discarded or not called on some path."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.contexts import CONTEXT
from killproof.sources.golang.memo import memo
from killproof.sources.golang.package import GoFile
from killproof.sources.golang.syntax import (
    FUNC_TYPES,
    contains,
    line_col,
    outermost_function,
    text,
    walk,
)

_MAKERS = (
    "WithCancel",
    "WithTimeout",
    "WithDeadline",
    "WithCancelCause",
    "WithTimeoutCause",
    "WithDeadlineCause",
)


def _cancel_target(call: ts.Node) -> tuple[ts.Node | None, ts.Node | None]:
    """(defining statement, cancel identifier) for ``ctx, cancel := context.With…(…)``."""
    holder = call.parent
    if holder is None or holder.type != "expression_list":
        return None, None
    stmt = holder.parent
    if stmt is None or stmt.type not in (
        "short_var_declaration",
        "assignment_statement",
        "var_spec",
    ):
        return None, None
    if stmt.type == "var_spec":
        names = stmt.children_by_field_name("name")
    else:
        left = stmt.child_by_field_name("left")
        names = left.named_children if left is not None else []
    if len(names) != 2:
        return stmt, None
    return stmt, names[1]


def _function(node: ts.Node) -> ts.Node | None:
    cur = node.parent
    while cur is not None and cur.type not in FUNC_TYPES:
        cur = cur.parent
    return cur


def _check(facts: PackageFacts) -> Iterator[Finding]:
    kept: dict[tuple[int, str], bool] = {}  # (function, name): one walk per variable
    for f, call in facts.pkg.package_calls(CONTEXT, *_MAKERS):
        stmt, cancel = _cancel_target(call)
        if stmt is None:
            parent = call.parent
            if parent is not None and parent.type == "expression_statement":
                yield _finding(f, call, "the cancel func is discarded")
            continue
        if cancel is None or cancel.type != "identifier":
            continue
        name = text(cancel)
        if _once_per_process(facts, stmt):
            continue
        if name == "_":
            yield _finding(f, call, "the cancel func is assigned to _")
            continue
        func = _function(stmt)
        if func is None:
            continue
        if stmt.type == "assignment_statement":
            key = ((outermost_function(stmt) or stmt).id, name)
            if key not in kept:
                kept[key] = _kept_elsewhere(facts, stmt, cancel)
            if kept[key]:
                continue
        problem = _path_without_use(func, stmt, name)
        if problem is not None:
            yield _finding(f, call, problem)


_PROCESS_FUNCS = ("main", "init")
_LOOPS = ("for_statement",)


def _once_per_process(facts: PackageFacts, stmt: ts.Node) -> bool:
    """The context is made once for the whole process, so at most one timer waits for
    its deadline: in ``main``/``init`` outside any loop, or stored in a package
    variable only when it is still nil (``if shutdownCtx == nil { shutdownCtx, _ =
    context.WithTimeout(…) }``) or inside a ``sync.Once``'s ``Do``."""
    func = _function(stmt)
    if func is None:
        return False
    between = []
    cur = stmt.parent
    while cur is not None and cur != func:
        between.append(cur)
        cur = cur.parent
    if func.type == "function_declaration" and text(func.child_by_field_name("name")) in (
        _PROCESS_FUNCS
    ):
        return not any(n.type in _LOOPS for n in between)
    left = stmt.child_by_field_name("left") if stmt.type == "assignment_statement" else None
    first = left.named_children[0] if left is not None and left.named_children else None
    if first is None or first.type != "identifier":
        return False
    ctx = text(first)
    if not any(
        text(n) == ctx
        for _, spec in facts.pkg.package_vars()
        for n in spec.children_by_field_name("name")
    ):
        return False
    if any(n.type in _LOOPS for n in between):
        return False
    for n in between:
        cond = n.child_by_field_name("condition") if n.type == "if_statement" else None
        if cond is not None and text(cond).replace(" ", "") in (f"{ctx}==nil", f"nil=={ctx}"):
            return True
    return func.type == "func_literal" and _in_once_do(func)


def _in_once_do(lit: ts.Node) -> bool:
    """``once.Do(func() { … })``."""
    args = lit.parent
    call = args.parent if args is not None else None
    if args is None or call is None or args.type != "argument_list":
        return False
    fn = call.child_by_field_name("function")
    return (
        fn is not None
        and fn.type == "selector_expression"
        and text(fn.child_by_field_name("field")) == "Do"
    )


def _kept_elsewhere(facts: PackageFacts, stmt: ts.Node, cancel: ts.Node) -> bool:
    """``ctx, cancel = context.WithCancel(…)`` (``=``, not ``:=``) stores the cancel func
    in a variable declared elsewhere — an outer variable a reload loop calls before it
    makes the next context, a closure's, a package variable — and something else reads
    it: it is not lost here."""
    name = text(cancel)
    outer = outermost_function(stmt) or stmt
    if any(_is_read(n) for n in _index(outer).nodes.get(name, ())):
        return True
    return any(
        ref.type == "identifier" and _is_read(ref) and not contains(outer, ref)
        for _, ref in facts.pkg.named_references(name)
    )


def _is_read(ident: ts.Node) -> bool:
    """The identifier is read (called, passed, compared), not declared or assigned to."""
    parent = ident.parent
    if parent is None:
        return True
    if parent.type == "var_spec":
        return False
    if parent.type == "expression_list" and parent.parent is not None:
        stmt = parent.parent
        if stmt.type in ("assignment_statement", "short_var_declaration"):
            return stmt.child_by_field_name("left") != parent
    return True


def _path_without_use(func: ts.Node, stmt: ts.Node, name: str) -> str | None:
    """Why ``name`` (the cancel func defined by ``stmt``) is lost in ``func``: never used
    after ``stmt``, or a return of ``func`` comes before its first use (a return that
    hands it on, ``return ctx, cancel``, is a use)."""
    index = _index(func)
    uses = index.identifiers.get(name, ())
    at = bisect.bisect_left(uses, stmt.end_byte)
    if at == len(uses):
        return "the cancel func is never called"
    first_use = uses[at]
    starts = [start for start, _ in index.returns]
    r = bisect.bisect_left(starts, stmt.end_byte)
    if r < len(index.returns):
        start, end = index.returns[r]
        if start < first_use and end <= first_use:
            line = index.return_lines[r]
            return f"the return at line {line} is reached without calling the cancel func"
    return None


@dataclass(frozen=True)
class _FunctionIndex:
    """One function read once: where each identifier occurs (nested func literals
    included) and its own return statements, by start byte. Every cancel func of the
    function is judged from it, so a function of thousands of statements is walked once,
    not once per ``context.With…`` call."""

    identifiers: dict[str, tuple[int, ...]]
    returns: tuple[tuple[int, int], ...]
    """(start byte, end byte) of the function's own returns, in order."""
    return_lines: tuple[int, ...]
    nodes: dict[str, tuple[ts.Node, ...]]


@memo
def _index(func: ts.Node) -> _FunctionIndex:
    idents: dict[str, list[ts.Node]] = {}
    returns: list[ts.Node] = []
    for n in walk(func, into_funcs=True):
        if n.type == "identifier":
            idents.setdefault(text(n), []).append(n)
        elif n.type == "return_statement" and _function(n) == func:
            returns.append(n)
    return _FunctionIndex(
        {k: tuple(x.start_byte for x in v) for k, v in idents.items()},
        tuple((r.start_byte, r.end_byte) for r in returns),
        tuple(line_col(r)[0] for r in returns),
        {k: tuple(v) for k, v in idents.items()},
    )


def _finding(f: GoFile, call: ts.Node, problem: str) -> Finding:
    return RULE.finding(
        f"{problem}: the context's timer and goroutine bookkeeping stay alive until the "
        "parent is cancelled",
        f.location(call),
        [f.evidence(call)],
    )


RULE: Rule[PackageFacts] = Rule(
    id="KP112",
    name="lost-cancel",
    severity=Severity.WARNING,
    summary="WithCancel/WithTimeout/WithDeadline whose cancel func is lost on some path.",
    docs=RuleDocs(
        what=(
            "`context.WithCancel`, `WithTimeout`, `WithDeadline` (and their `Cause` "
            "variants) whose cancel func is discarded, assigned to `_`, never used, or not "
            "yet used when a `return` is reached (the straight-line part of vet's "
            "lostcancel). A cancel func assigned with `=` to a variable declared "
            "elsewhere (an outer variable a reload loop calls before it makes the next "
            "context, a closure's, a package variable) that something reads is kept, "
            "not lost. Not reported: a context made once for the whole process (in "
            "`main`/`init` outside any loop, or kept in a package variable and made only "
            "while it is nil or inside a `sync.Once`'s `Do`): one timer at most, nothing "
            "accumulates."
        ),
        why=(
            "Until cancel is called, the child context stays registered with its parent "
            "(and a WithTimeout keeps its timer). Under a long-lived parent such as a "
            "server's base context, one leaked child per request is a steady memory leak "
            "that ends in an OOM kill."
        ),
        example="```go\nctx, _ = context.WithTimeout(ctx, time.Second)\n```",
        fix="`ctx, cancel := context.WithTimeout(ctx, d)` followed by `defer cancel()`.",
        references=(
            "https://pkg.go.dev/context#WithCancel",
            "https://pkg.go.dev/golang.org/x/tools/go/analysis/passes/lostcancel",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package client\n\nimport (\n\t"context"\n\t"time"\n)\n\n'
            "func call(ctx context.Context) error {\n"
            "\tctx, _ = context.WithTimeout(ctx, time.Second)\n\treturn do(ctx)\n}\n\n"
            "func do(context.Context) error { return nil }\n",
            "client.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package client\n\nimport (\n\t"context"\n\t"time"\n)\n\n'
            "func call(ctx context.Context) error {\n"
            "\tctx, cancel := context.WithTimeout(ctx, time.Second)\n\tdefer cancel()\n"
            "\treturn do(ctx)\n}\n\nfunc do(context.Context) error { return nil }\n",
            "client.go",
        ),
    ),
    family="go",
)
