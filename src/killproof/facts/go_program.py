"""The Go program fact that crosses the line between Go code and deploy files.

The Go side (:mod:`killproof.check.go`) produces one :class:`GoProgram` per main package;
the deploy side (:mod:`killproof.check.deploy`) links launches to them and runs the
cross-layer rules (KP5xx) on the pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from killproof.model import Location


@dataclass(frozen=True)
class GoProgram:
    """What the cross-layer rules need to know about one Go main package.

    ``dir`` is relative to the checked root (``.`` for the root itself); ``binary_name``
    is what ``go build`` would name it (the directory name, or the module's last element
    for the root). Times are seconds.
    """

    dir: str
    binary_name: str
    location: Location
    module_path: str = ""
    go_version: str | None = None
    serves_http: bool = False
    handled_signals: frozenset[str] = frozenset()
    """Signal names as ``SIGTERM``, ``SIGINT`` … that the program subscribes to."""
    handler_paths: frozenset[str] = frozenset()
    """URL paths registered with any router (``/healthz``, ``/orders/`` …)."""
    listen_ports: frozenset[int] = frozenset()
    """Ports it listens on, literal or the default of an env lookup."""
    listen_port_envs: frozenset[str] = frozenset()
    """Env var names the listen address/port is read from (``PORT``)."""
    shutdown_timeout_s: float | None = None
    """The deadline of the context passed to Shutdown/GracefulStop, when one is found."""
    extra_drain_s: float = 0.0
    """Sleeps on the signal path before Shutdown (a preStop-like delay in code)."""
    sets_memory_limit: bool = False
    """``debug.SetMemoryLimit`` or automemlimit is used."""
    sets_gomaxprocs: bool = False
    """automaxprocs or ``runtime.GOMAXPROCS`` is used."""
    imports: frozenset[str] = frozenset()
    """Every import path of the program's packages (its libraries included)."""
