"""Signal subscriptions (``signal.Notify``/``NotifyContext``) and process exits."""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.syntax import call_args, call_parts, text, unparen
from killproof.sources.golang.values import values_of

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
    helper: str = ""
    """The well-known helper that subscribes for the program (``run.SignalHandler``,
    ``fx.App.Run``…), ``""`` for a direct os/signal call."""

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


# Functions of well-known packages that call signal.Notify(…, SIGINT, SIGTERM) for the
# program and cancel a context or stop the application on it.
SIGNAL_HELPERS: dict[str, tuple[str, ...]] = {
    "github.com/oklog/run": ("SignalHandler",),
    "sigs.k8s.io/controller-runtime": ("SetupSignalHandler",),
    "sigs.k8s.io/controller-runtime/pkg/manager/signals": ("SetupSignalHandler",),
    "k8s.io/apiserver/pkg/server": ("SetupSignalHandler", "SetupSignalContext"),
    "knative.dev/pkg/signals": ("NewContext", "SetupSignalHandler"),
    # caddy v1 (and CoreDNS's fork): TrapSignals stops every server on SIGINT/SIGTERM.
    "github.com/coredns/caddy": ("TrapSignals",),
    "github.com/caddyserver/caddy": ("TrapSignals",),
    # go-svc: Run(service, signals…) calls the service's Stop on them.
    "github.com/judwhite/go-svc": ("Run",),
    "github.com/judwhite/go-svc/svc": ("Run",),
    # ory/graceful: Graceful(start, shutdown) calls shutdown on SIGINT/SIGTERM.
    "github.com/ory/graceful": ("Graceful",),
}
_SIGNAL_ARGS_FROM: dict[str, int] = {
    "github.com/oklog/run": 1,
    "github.com/judwhite/go-svc": 1,
    "github.com/judwhite/go-svc/svc": 1,
}
"""Helpers that take the signals as arguments, from this index on (the others always
subscribe to SIGINT and SIGTERM)."""
# Application lifecycles whose Run blocks until SIGINT/SIGTERM and then stops the app.
LIFECYCLE_APPS = {
    "go.uber.org/fx": "fx",
    "github.com/go-kratos/kratos/v2": "kratos",
}
_HELPER_SIGNALS = frozenset({"SIGINT", "SIGTERM"})
_HELPER_NAMES = frozenset(n for names in SIGNAL_HELPERS.values() for n in names)


def helper_subscriptions(pkg: GoPackage) -> list[Subscription]:
    """Subscriptions made for the program by a well-known helper or lifecycle."""
    out: list[Subscription] = []
    for f, call in pkg.selector_calls(*_HELPER_NAMES):
        target = f.call_target(call)
        if target is None or target[1] not in SIGNAL_HELPERS.get(target[0], ()):
            continue
        path, name = target
        first = _SIGNAL_ARGS_FROM.get(path)
        signals = _HELPER_SIGNALS if first is None else _helper_signals(f, call, first)
        out.append(Subscription(f, call, True, None, signals, f"{path.rsplit('/', 1)[-1]}.{name}"))
    apps = {path: label for path, label in LIFECYCLE_APPS.items() if pkg.imports_path(path)}
    if not apps:
        return out
    for f, call in pkg.selector_calls("Run"):
        fn = call.child_by_field_name("function")
        receiver = fn.child_by_field_name("operand") if fn is not None else None
        for value in values_of(pkg, receiver) or []:
            v = unparen(value)
            if v is None or v.type != "call_expression":
                continue
            target = pkg.file_of(v).call_target(v)
            if target is not None and target[0] in apps and target[1] == "New":
                label = f"{apps[target[0]]}.App.Run"
                out.append(Subscription(f, call, True, None, _HELPER_SIGNALS, label))
                break
    return out


def _helper_signals(f: GoFile, call: ts.Node, first: int) -> frozenset[str] | None:
    """The signals a helper is given from argument ``first`` on (oklog's SignalHandler
    and go-svc's Run take them), else its default SIGINT and SIGTERM."""
    names = [signal_name(f, a) for a in call_args(call)[first:]]
    if not names:
        return _HELPER_SIGNALS
    if any(n is None for n in names):
        return None
    return frozenset(n for n in names if n is not None)


def subscriptions(pkg: GoPackage) -> list[Subscription]:
    """Every subscription in the package (aliases of os/signal resolved), and those
    well-known helpers make for it."""
    out: list[Subscription] = helper_subscriptions(pkg)
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
