"""A package's :class:`PackageSummary`: the picklable facts program-level rules and the
deploy side need (servers, signals, pools, GC settings, routes, ports, timeouts)."""

from __future__ import annotations

import tree_sitter as ts

from killproof.facts.go import PackageFacts, PackageSummary, Site
from killproof.model import Location
from killproof.sources.golang.contexts import duration_seconds, timeout_seconds
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.pools import is_per_call_pool, is_sqlite
from killproof.sources.golang.requests import routes
from killproof.sources.golang.roles import PROMHTTP, default_mux_paths, start_role
from killproof.sources.golang.servers import resolve_address, server_kind
from killproof.sources.golang.signals import SIGNAL_HELPERS
from killproof.sources.golang.syntax import call_args, call_parts
from killproof.suppression import silenced_lines

SQL_OPENERS = {
    "database/sql": ("Open", "OpenDB"),
    "github.com/jmoiron/sqlx": ("Open", "Connect", "MustConnect", "MustOpen"),
    "github.com/jackc/pgx/v5/stdlib": ("OpenDB",),
    "github.com/jackc/pgx/v4/stdlib": ("OpenDB",),
}
DEBUG = "runtime/debug"
AUTOMEMLIMIT = (
    "github.com/KimMachineGun/automemlimit",
    "github.com/KimMachineGun/automemlimit/memlimit",
)
AUTOMAXPROCS = ("go.uber.org/automaxprocs", "go.uber.org/automaxprocs/maxprocs")


def sql_open_sites(facts: PackageFacts) -> list[Site]:
    """Calls that open a database/sql pool that can grow: not one opened and closed
    within a single call, not one on an SQLite file (see :mod:`pools`)."""
    out: list[Site] = []
    for path, names in SQL_OPENERS.items():
        for f, call in facts.pkg.package_calls(path, *names):
            if is_per_call_pool(call) or is_sqlite(call):
                continue
            out.append(Site(f.location(call), f.evidence(call)))
    return out


def gc_off_sites(facts: PackageFacts) -> list[Site]:
    """``debug.SetGCPercent(-1)`` calls."""
    out: list[Site] = []
    for f, call in facts.pkg.package_calls(DEBUG, "SetGCPercent"):
        args = call_args(call)
        if args and args[0].text is not None and args[0].text.replace(b" ", b"") == b"-1":
            out.append(Site(f.location(call), f.evidence(call)))
    return out


def shutdown_values(pkg: GoPackage) -> int:
    """``srv.Shutdown`` / ``gs.GracefulStop`` of a server handed to a function as a value
    (``graceful.Graceful(start, srv.Shutdown)``, ``onStop(ctx, gs.GracefulStop)``): the
    callee calls it. The value must be a server's, or be given to a signal helper
    (``connectivity.Shutdown`` is a constant, an OpenTelemetry provider's is no server)."""
    count = 0
    for name in ("Shutdown", "GracefulStop"):
        for f, ref in pkg.named_references(name):
            args = ref.parent
            call = args.parent if args is not None else None
            if ref.type != "selector_expression" or call is None or args is None:
                continue
            if args.type != "argument_list" or f.qualified(ref) is not None:
                continue
            target = f.call_target(call)
            helper = target is not None and target[1] in SIGNAL_HELPERS.get(target[0], ())
            if helper or server_kind(pkg, ref.child_by_field_name("operand")):
                count += 1
    return count


def _sets_limit(call: ts.Node) -> bool:
    """``debug.SetMemoryLimit(-1)`` only reads the current limit."""
    args = call_args(call)
    return bool(args) and not (args[0].text or b"").lstrip().startswith(b"-")


def summarize(facts: PackageFacts, location: Location) -> PackageSummary:
    """Everything program-level about one package."""
    pkg = facts.pkg
    subs = facts.subscriptions
    signals = frozenset(s for sub in subs for s in (sub.signals or ()))
    ports: set[int] = set()
    envs: set[str] = set()
    # Server addresses, and the bare listeners gRPC and custom servers are handed
    # (``lis, _ := net.Listen("tcp", ":9090"); grpcServer.Serve(lis)``).
    listeners = [
        args[1]
        for path in ("net", "crypto/tls")
        for _, call in pkg.package_calls(path, "Listen")
        if len(args := call_args(call)) > 1
    ]
    for expr in [*(start.addr for start in facts.starts), *listeners]:
        addr = resolve_address(pkg, expr)
        if addr.port is not None:
            ports.add(addr.port)
        if addr.port_env is not None:
            envs.add(addr.port_env)
    shutdown_timeout: float | None = None
    # fiber's app.ShutdownWithTimeout/ShutdownWithContext drain too.
    shutdowns = list(
        pkg.selector_calls("Shutdown", "ShutdownWithTimeout", "ShutdownWithContext", "GracefulStop")
    )
    for _, call in shutdowns:
        args = call_args(call)
        if args:
            by_duration = (call_parts(call) or ("", ""))[1] == "ShutdownWithTimeout"
            t = (duration_seconds if by_duration else timeout_seconds)(pkg, args[0])
            if t is not None:
                shutdown_timeout = max(shutdown_timeout or 0.0, t)
    drain = 0.0
    if subs and shutdowns:
        for f, call in pkg.package_calls("time", "Sleep"):
            # A sleep between the signal and Shutdown is a drain delay (preStop in code).
            if any(f is sf and call.start_byte < sc.start_byte for sf, sc in shutdowns):
                sleep_args = call_args(call)
                d = duration_seconds(pkg, sleep_args[0] if sleep_args else None)
                drain = max(drain, d or 0.0)
    directives = [s for items in facts.suppressions.values() for s in items]
    suppressed = tuple(
        (path, line, ids) for (path, line), ids in silenced_lines(directives).items()
    )
    return PackageSummary(
        dir=pkg.dir,
        name=pkg.name,
        import_path=pkg.import_path,
        module_path=pkg.module_path,
        go_version=pkg.go_version,
        location=location,
        imports=frozenset(i.path for f in pkg.files for i in f.imports),
        serve_sites=tuple(
            Site(
                s.file.location(s.call),
                s.file.evidence(s.call),
                s.kind.value,
                start_role(pkg, s).value,
            )
            for s in sorted(facts.starts, key=lambda s: (s.file.path, s.call.start_byte))
        ),
        default_mux_paths=default_mux_paths(pkg),
        serves_prometheus=pkg.imports_path(PROMHTTP),
        shutdown_calls=len(shutdowns) + shutdown_values(pkg),
        signals=signals,
        may_handle_sigterm=any(s.may_handle_sigterm for s in subs),
        subscribes=bool(subs),
        sql_open_sites=tuple(sql_open_sites(facts)),
        sets_max_open_conns=any(True for _ in pkg.selector_calls("SetMaxOpenConns")),
        gc_off_sites=tuple(gc_off_sites(facts)),
        sets_memory_limit=any(_sets_limit(c) for _, c in pkg.package_calls(DEBUG, "SetMemoryLimit"))
        or pkg.imports_path(*AUTOMEMLIMIT),
        sets_gomaxprocs=any(True for _ in pkg.package_calls("runtime", "GOMAXPROCS"))
        or pkg.imports_path(*AUTOMAXPROCS),
        handler_paths=frozenset(r.path for r in routes(pkg)),
        listen_ports=frozenset(ports),
        listen_port_envs=frozenset(envs),
        shutdown_timeout_s=shutdown_timeout,
        extra_drain_s=drain,
        suppressed=suppressed,
    )
