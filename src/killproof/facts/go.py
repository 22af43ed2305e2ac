"""The facts the KP1xx rules read: per package (in the worker that parsed it) and per
program (a main package and the local packages it imports, assembled from summaries)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from killproof.model import Evidence, Location
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.requests import RequestPaths
from killproof.sources.golang.roles import Role, all_side
from killproof.sources.golang.servers import ServerStart, server_starts
from killproof.sources.golang.signals import Subscription, subscriptions
from killproof.suppression import Suppression


@dataclass
class PackageFacts:
    """One package's files plus facts several rules share, computed on first use."""

    pkg: GoPackage
    suppressions: dict[str, list[Suppression]] = field(default_factory=dict)
    """File path → its ignore directives."""

    @cached_property
    def request_paths(self) -> RequestPaths:
        """Functions that run per request."""
        return RequestPaths(self.pkg)

    @cached_property
    def starts(self) -> list[ServerStart]:
        """Calls that start a server."""
        return server_starts(self.pkg)

    @cached_property
    def subscriptions(self) -> list[Subscription]:
        """signal.Notify / NotifyContext calls."""
        return subscriptions(self.pkg)

    @property
    def serves(self) -> bool:
        """True when the package starts a server or registers a handler."""
        return bool(self.starts) or self.request_paths.any


@dataclass(frozen=True)
class Site:
    """A place in the code a program-level rule may point at."""

    location: Location
    evidence: Evidence
    detail: str = ""
    role: str = ""
    """For a server start, the :class:`~killproof.sources.golang.roles.Role` value."""


@dataclass(frozen=True)
class PackageSummary:
    """What program-level rules and the deploy side need from one package (picklable)."""

    dir: str
    name: str
    import_path: str
    module_path: str
    go_version: str | None
    location: Location
    imports: frozenset[str] = frozenset()
    """Every import path; a program takes in those the check read too (its own module's,
    and other modules in the tree: a go.work workspace or a ``replace`` to a local path)."""
    serve_sites: tuple[Site, ...] = ()
    """Every server start; ``detail`` is the :class:`StartKind` value."""
    default_mux_paths: frozenset[str] = frozenset()
    """Paths put on the DefaultServeMux (``?`` for one that is not a literal)."""
    serves_prometheus: bool = False
    """True when the package imports promhttp (it exposes Prometheus metrics)."""
    shutdown_calls: int = 0
    signals: frozenset[str] = frozenset()
    """Signal names subscribed to by name (``Notify(c)`` with no names adds none)."""
    may_handle_sigterm: bool = False
    """True when some subscription has SIGTERM, all signals, or signals not readable."""
    subscribes: bool = False
    sql_open_sites: tuple[Site, ...] = ()
    sets_max_open_conns: bool = False
    gc_off_sites: tuple[Site, ...] = ()
    sets_memory_limit: bool = False
    sets_gomaxprocs: bool = False
    handler_paths: frozenset[str] = frozenset()
    listen_ports: frozenset[int] = frozenset()
    listen_port_envs: frozenset[str] = frozenset()
    shutdown_timeout_s: float | None = None
    extra_drain_s: float = 0.0
    suppressed: tuple[tuple[str, int, frozenset[str]], ...] = ()
    """(path, line, rule ids) silenced by ignore directives."""


@dataclass(frozen=True)
class ProgramFacts:
    """A main package and every local package it imports, transitively."""

    main: PackageSummary
    packages: tuple[PackageSummary, ...]

    def sites(self, attr: str) -> Iterator[Site]:
        """All sites of one kind (``serve_sites``, ``sql_open_sites``…) across packages."""
        for p in self.packages:
            yield from getattr(p, attr)

    def is_side(self, site: Site) -> bool:
        """True when a server start carries side traffic only (scrapes, profiles,
        health checks): its own handler says so; it serves the DefaultServeMux and every
        path the program puts there is a side path; or it is an exporter-toolkit server
        of a program that serves promhttp metrics."""
        if site.role == Role.SIDE.value:
            return True
        if site.role == Role.EXPORTER.value:
            return any(p.serves_prometheus for p in self.packages)
        if site.role != Role.DEFAULT_MUX.value:
            return False
        paths = frozenset(x for p in self.packages for x in p.default_mux_paths)
        return bool(paths) and all_side(paths)

    def drains_nothing(self, site: Site) -> bool:
        """True when ``Shutdown`` would not drain this server: side traffic only, or
        every route upgrades to a WebSocket (hijacked connections are not tracked)."""
        return site.role == Role.HIJACKED.value or self.is_side(site)

    @property
    def handles_sigterm(self) -> bool:
        """True when SIGTERM is (or may be) subscribed to anywhere in the program."""
        return any(p.may_handle_sigterm for p in self.packages)

    @property
    def subscribes(self) -> bool:
        """True when the program subscribes to any signal."""
        return any(p.subscribes for p in self.packages)
