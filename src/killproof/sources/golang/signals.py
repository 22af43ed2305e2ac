"""Signal subscriptions (``signal.Notify``/``NotifyContext``) and process exits."""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.syntax import call_args, call_parts, text, unparen

SIGNAL_PKG = "os/signal"
_SIGNAL_PACKAGES = ("syscall", "golang.org/x/sys/unix", "os")
_OS_NAMES = {"Interrupt": "SIGINT", "Kill": "SIGKILL"}
EXIT_METHODS = frozenset({"Fatal", "Fatalf", "Fatalln", "Panic", "Panicf", "Panicln"})


@dataclass(frozen=True)
class Subscription:
    """One ``signal.Notify(ch, …)`` or ``signal.NotifyContext(ctx, …)``.

    ``signals`` is None when an argument could not be read (a variable, a spread slice):
    then the rules assume SIGTERM may be among them.
    """

    file: GoFile
    call: ts.Node
    context: bool
    channel: ts.Node | None
    signals: frozenset[str] | None

    @property
    def may_handle_sigterm(self) -> bool:
        """True unless the signals are known and SIGTERM is not among them."""
        return self.signals is None or not self.signals or "SIGTERM" in self.signals


def signal_name(f: GoFile, node: ts.Node) -> str | None:
    """``syscall.SIGTERM`` → ``SIGTERM``, ``os.Interrupt`` → ``SIGINT``; None if unknown."""
    q = f.qualified(node)
    if q is None or q[0] not in _SIGNAL_PACKAGES:
        return None
    if q[0] == "os":
        return _OS_NAMES.get(q[1])
    return q[1] if q[1].startswith("SIG") else None


def subscriptions(pkg: GoPackage) -> list[Subscription]:
    """Every subscription in the package (aliases of os/signal resolved)."""
    out: list[Subscription] = []
    for f, call in pkg.package_calls(SIGNAL_PKG, "Notify", "NotifyContext"):
        args = call_args(call)
        is_ctx = (call_parts(call) or ("", ""))[1] == "NotifyContext"
        channel = None if is_ctx or not args else args[0]
        names: set[str] = set()
        known = True
        arglist = call.child_by_field_name("arguments")
        spread = arglist is not None and any(c.type == "..." for c in arglist.children)
        for arg in args[1:]:
            name = signal_name(f, arg)
            if name is None:
                known = False
            else:
                names.add(name)
        if spread:
            known = False
        out.append(Subscription(f, call, is_ctx, channel, frozenset(names) if known else None))
    return out


def is_exit(f: GoFile, call: ts.Node) -> bool:
    """``os.Exit``, ``log.Fatal*``/``Panic*`` on any logger, or the ``panic`` builtin."""
    parts = call_parts(call)
    if parts is None:
        return False
    operand, name = parts
    if not operand:
        return name == "panic"
    if name == "Exit":
        return f.is_call_to(call, "os", "Exit")
    return name in EXIT_METHODS


def receives_from(node: ts.Node) -> ts.Node | None:
    """The channel expression of ``<-ch`` when ``node`` is (or wraps) a receive."""
    u = unparen(node)
    if u is None:
        return None
    if u.type == "unary_expression" and text(u.child_by_field_name("operator")) == "<-":
        return u.child_by_field_name("operand")
    return None
