"""The drill's settings, written once: each field of :class:`DrillOptions` carries its
default and its ``--help`` text, and ``killproof drill``'s options are made from them.

:class:`DrillOptions` holds the values as typed (strings such as ``40s``; None when not
given, so a manifest's value can win); :func:`killproof.drill.setup.prepare` turns them
into a :class:`~killproof.drill.run.DrillConfig`, whose defaults come from the constants
here too. Units in the constants: bytes, seconds, requests/s, Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from killproof.drill.load_plan import Engine
from killproof.drill.sandbox import SandboxChoice

DEFAULT_MEMORY = "128Mi"
"""The limit when neither ``--memory`` nor a manifest gives one."""
DEFAULT_PORT = 18090
DEFAULT_HOST = "127.0.0.1"
DEFAULT_RATE = "100"
DEFAULT_GRACE_S = 30.0
"""Kubernetes' terminationGracePeriodSeconds default (seconds)."""
DEFAULT_MAX_STARTUP_S = 10.0
"""Start-up longer than this is KP608 when no probe states a budget (seconds)."""
DEFAULT_STARTUP_TIMEOUT_S = 60.0
DEFAULT_DURATION_S = 40.0
"""Length of each ``--rate`` step (seconds)."""
DEFAULT_CONNECTIONS = 64
DEFAULT_TIMEOUT_S = 5.0
"""Per-request timeout (seconds)."""
DEFAULT_SLO_PERCENTILE = 99.0
DEFAULT_SLO_MS = 300.0
DEFAULT_THRASH_AFTER_S = 10.0
"""Pinned at the limit this long without an OOM kill is thrash, KP610 (seconds)."""
DEFAULT_SAMPLE_HZ = 10.0
SAMPLE_HZ_RANGE = (5, 100)
"""Allowed ``--sample-hz`` (Hz, inclusive)."""


@dataclass(frozen=True)
class OptionSpec:
    """How a :class:`DrillOptions` field is given on the command line: its flags (the
    first is the option's name), help, and how click reads it."""

    flags: tuple[str, ...]
    help: str
    show_default: bool = False
    number: type[int] | type[float] | None = None
    """The value's type when it is a number (click's INTEGER/FLOAT)."""
    choices: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    """Inclusive range of a number."""
    metavar: str = ""
    multiple: bool = False
    is_flag: bool = False
    existing_file: bool = False


def _opt(help: str, *flags: str, **how: Any) -> dict[str, OptionSpec]:
    """A field's metadata: how it is given on the command line."""
    return {"option": OptionSpec(tuple(flags), help, **how)}


def option_spec(meta: Any) -> OptionSpec | None:
    """The :class:`OptionSpec` in a field's metadata, None for fields that are no option."""
    spec = meta.get("option") if meta else None
    return spec if isinstance(spec, OptionSpec) else None


@dataclass(frozen=True)
class DrillOptions:
    """The raw command-line values (strings as typed; None when not given)."""

    target: tuple[str, ...]
    memory: str | None = field(
        default=None,
        metadata=_opt(
            f"Memory limit (64Mi, 128M, 1Gi). Default: the manifest's, else {DEFAULT_MEMORY}.",
            "--memory",
        ),
    )
    cpus: str | None = field(
        default=None, metadata=_opt("CPU limit (1.5 or 500m) where the cgroup allows.", "--cpus")
    )
    port: int | None = field(
        default=None,
        metadata=_opt(
            f"The service's loopback port, passed as env PORT. [{DEFAULT_PORT}]",
            "--port",
            number=int,
        ),
    )
    host: str = field(
        default=DEFAULT_HOST,
        metadata=_opt("Where the service listens.", "--host", show_default=True),
    )
    ready: str | None = field(
        default=None,
        metadata=_opt("Readiness check: an HTTP path (/readyz), tcp, or :PORT/path.", "--ready"),
    )
    ready_cmd: str | None = field(
        default=None,
        metadata=_opt("Readiness check: a shell command that exits 0 when ready.", "--ready-cmd"),
    )
    startup_timeout: str = field(
        default=f"{DEFAULT_STARTUP_TIMEOUT_S:g}s",
        metadata=_opt("Give up waiting for readiness.", "--startup-timeout", show_default=True),
    )
    max_startup: str | None = field(
        default=None,
        metadata=_opt(
            "Startup longer than this is a finding (KP608). "
            f"[probe budget, else {DEFAULT_MAX_STARTUP_S:g}s]",
            "--max-startup",
        ),
    )
    request: str | None = field(
        default=None,
        metadata=_opt(
            "Request template, e.g. 'GET /orders?id={n}'. [PATH: a route found in the code "
            "answered with a 2xx, its query keys set to {n}; else GET /]",
            "--request",
        ),
    )
    requests_file: Path | None = field(
        default=None,
        metadata=_opt("A YAML list or HAR file of requests.", "--requests", existing_file=True),
    )
    rate: str | None = field(
        default=None,
        metadata=_opt(
            f"Requests/s per step: 200, or 100,200,400, or max. [{DEFAULT_RATE}]", "--rate"
        ),
    )
    ramp: str | None = field(
        default=None, metadata=_opt("A ramp run as steps: 50..2000/30s.", "--ramp")
    )
    duration: str = field(
        default=f"{DEFAULT_DURATION_S:g}s",
        metadata=_opt("Length of each --rate step.", "--duration", show_default=True),
    )
    connections: int = field(
        default=DEFAULT_CONNECTIONS,
        metadata=_opt("Client connections.", "--connections", show_default=True),
    )
    timeout: str = field(
        default=f"{DEFAULT_TIMEOUT_S:g}s",
        metadata=_opt("Per-request timeout.", "--timeout", show_default=True),
    )
    grace: str | None = field(
        default=None,
        metadata=_opt(
            f"Grace period after the stop signal. [manifest's, else {DEFAULT_GRACE_S:g}s]",
            "--grace",
        ),
    )
    stop_signal: str | None = field(
        default=None,
        metadata=_opt("Stop signal. [manifest's / Dockerfile's, else SIGTERM]", "--stop-signal"),
    )
    slo: str = field(
        default=f"p{DEFAULT_SLO_PERCENTILE:g}<{DEFAULT_SLO_MS:g}ms",
        metadata=_opt("Latency objective per step.", "--slo", show_default=True),
    )
    target_rate: float | None = field(
        default=None,
        metadata=_opt(
            "Rate that must hold the SLO (KP609). [highest step]", "--target-rate", number=float
        ),
    )
    sandbox: str = field(
        default=SandboxChoice.AUTO.value,
        metadata=_opt(
            "How the memory limit is enforced.",
            "--sandbox",
            choices=tuple(c.value for c in SandboxChoice),
            show_default=True,
        ),
    )
    engine: str = field(
        default=Engine.BUILTIN.value,
        metadata=_opt(
            "Load generator.", "--engine", choices=tuple(e.value for e in Engine), show_default=True
        ),
    )
    allow_remote: bool = field(
        default=False, metadata=_opt("Allow a non-loopback --host.", "--allow-remote", is_flag=True)
    )
    env: tuple[str, ...] = field(
        default=(),
        metadata=_opt("Extra environment (repeat).", "--env", metavar="KEY=VALUE", multiple=True),
    )
    shutdown_test: bool = field(
        default=True,
        metadata=_opt(
            "Send the stop signal under load at the end.",
            "--shutdown-test/--no-shutdown-test",
            show_default=True,
        ),
    )
    thrash_after: str = field(
        default=f"{DEFAULT_THRASH_AFTER_S:g}s",
        metadata=_opt(
            "Pinned at the limit this long, no OOM kill: thrash (KP610).",
            "--thrash-after",
            show_default=True,
        ),
    )
    sample_hz: float = field(
        default=DEFAULT_SAMPLE_HZ,
        metadata=_opt(
            "Memory sampling rate (Hz).",
            "--sample-hz",
            show_default=True,
            number=float,
            bounds=SAMPLE_HZ_RANGE,
        ),
    )
    work_dir: Path | None = None
    """Given by the command's ``--work-dir`` (it also decides what is kept)."""
    notes: tuple[str, ...] = ()
