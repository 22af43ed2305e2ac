"""Process watchdogs: a timer armed before a shutdown that ends the whole process.

``time.AfterFunc(d, func() { …; os.Exit(1) })`` (or ``log.Fatal``, ``panic``), or
``go func() { <-time.After(d); os.Exit(1) }()`` / ``time.Sleep(d)`` before the exit, armed
in a function that encloses a ``Shutdown``/``GracefulStop`` call and earlier in the source
than it: whatever that call waits for, the process is gone after ``d``.
"""

from __future__ import annotations

import tree_sitter as ts

from killproof.sources.golang.package import GoFile
from killproof.sources.golang.signals import is_exit
from killproof.sources.golang.syntax import FUNC_TYPES, body_of, call_args, unparen, walk

_TIMERS = ("After", "Sleep", "NewTimer", "Tick")


def _exits(f: GoFile, node: ts.Node) -> bool:
    """True when ``node`` (a func literal) calls something that ends the process."""
    return any(n.type == "call_expression" and is_exit(f, n) for n in walk(node, True))


def _waits_on_timer(f: GoFile, node: ts.Node) -> bool:
    """True when ``node`` calls ``time.After``/``Sleep``/``NewTimer``/``Tick``."""
    return any(
        n.type == "call_expression" and f.is_call_to(n, "time", *_TIMERS) for n in walk(node, True)
    )


def _is_watchdog(f: GoFile, node: ts.Node) -> bool:
    """``time.AfterFunc(d, func(){… exit …})`` or ``go func(){ <timer>; … exit … }()``."""
    if node.type == "call_expression" and f.is_call_to(node, "time", "AfterFunc"):
        args = call_args(node)
        callback = unparen(args[1]) if len(args) == 2 else None
        return callback is not None and callback.type == "func_literal" and _exits(f, callback)
    if node.type == "go_statement":
        call = node.named_children[0] if node.named_children else None
        fn = unparen(call.child_by_field_name("function")) if call is not None else None
        if fn is not None and fn.type == "func_literal":
            return _waits_on_timer(f, fn) and _exits(f, fn)
    return False


def watchdog_before(f: GoFile, call: ts.Node) -> bool:
    """True when a function enclosing ``call`` arms a process watchdog before it.

    The watchdog must sit in ``call``'s own function or one that encloses it (not in an
    unrelated func literal) and start earlier in the file.
    """
    chain: list[ts.Node] = []
    cur = call.parent
    while cur is not None:
        if cur.type in FUNC_TYPES:
            chain.append(cur)
        cur = cur.parent
    for func in chain:
        body = body_of(func)
        if body is None:
            continue
        for node in walk(body):
            if node.start_byte >= call.start_byte:
                break
            if _is_watchdog(f, node):
                return True
    return False
