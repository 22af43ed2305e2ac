"""Build a :class:`DrillConfig` from command-line values, and from a repo for ``drill PATH``.

Command-line values win over the workload's; the workload's win over defaults. ``drill
PATH`` builds the Go main with the local toolchain (offline) into the drill's work
directory. Units: bytes, seconds.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from killproof import gotool
from killproof.analysis.leak import parse_slo
from killproof.drill import linked
from killproof.drill.linked import ProgramHints
from killproof.drill.load_plan import (
    Engine,
    authority,
    parse_duration,
    parse_rate_spec,
    resolve_target,
)
from killproof.drill.quantity import parse_bytes, parse_cpus, parse_memory_limit, parse_signal
from killproof.drill.ready import ProbeKind, ReadyProbe, parse_probe
from killproof.drill.request_source import (
    RequestSource,
    RequestTemplate,
    load_request_source,
    single_request,
)
from killproof.drill.route_requests import route_candidates
from killproof.drill.run import DrillConfig
from killproof.drill.sandbox import SandboxChoice
from killproof.drill.settings import (
    DEFAULT_GRACE_S,
    DEFAULT_MAX_STARTUP_S,
    DEFAULT_MEMORY,
    DEFAULT_PORT,
    DEFAULT_RATE,
    DrillOptions,
)
from killproof.errors import InputError


def _env_pairs(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InputError(f"--env {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _requests(opts: DrillOptions, main_dir: Path | None) -> tuple[RequestSource, ...]:
    """The request source to load, then (zero-config only) alternates to try in turn when
    the first is not answered with a 2xx."""
    if opts.requests_file is not None:
        return (load_request_source(opts.requests_file),)
    if opts.request:
        return (single_request(opts.request),)
    if main_dir is not None:
        return tuple(c.source() for c in route_candidates(main_dir))
    return (RequestSource((RequestTemplate("GET", "/"),), "the default"),)


@dataclass(frozen=True)
class DrillPlan:
    """A drill whose arguments all passed: its configuration and notes, and for ``drill
    PATH`` the Go main still to build. Nothing is written until :meth:`complete`."""

    config: DrillConfig
    """Complete but for ``work_dir`` (and ``command`` when ``main_dir`` is set)."""
    notes: tuple[str, ...]
    main_dir: Path | None = None

    def complete(self, work_dir: Path) -> tuple[DrillConfig, tuple[str, ...]]:
        """The configuration with ``work_dir`` (made absolute), the Go main built into it."""
        work_dir = work_dir.absolute()
        command = self.config.command
        if self.main_dir is not None:
            # The user's Go build cache: a fresh one would recompile the standard library.
            out = work_dir / "bin" / self.main_dir.resolve().name
            command = (str(gotool.build(self.main_dir, out)),)
        return replace(self.config, command=command, work_dir=work_dir), self.notes


def build_config(
    opts: DrillOptions, work_dir: Path, base_env: Mapping[str, str] | None = None
) -> tuple[DrillConfig, tuple[str, ...]]:
    """The drill's configuration and the notes to report about where values came from."""
    return prepare(opts, base_env).complete(work_dir)


def prepare(opts: DrillOptions, base_env: Mapping[str, str] | None = None) -> DrillPlan:
    """Check every argument and settle every value, writing nothing (InputError on the
    first bad one); the host is resolved here, once, and checked to be loopback."""
    notes: list[str] = list(opts.notes)
    if not opts.target:
        raise InputError("nothing to drill: give PATH or -- CMD [ARGS…]")
    workload = None
    command = opts.target
    dockerfile_signal = None
    hints: ProgramHints | None = None
    main_dir: Path | None = None
    if len(opts.target) == 1 and Path(opts.target[0]).is_dir():
        plan, hints = linked.plan_path(Path(opts.target[0]))
        main_dir = plan.main_dir
        workload, dockerfile_signal = plan.workload, plan.stop_signal
        notes += plan.notes
        if workload is not None:
            notes.append(f"settings from {workload.describe()}")
    port = opts.port or DEFAULT_PORT
    checked = resolve_target(f"http://{authority(opts.host, port)}", opts.allow_remote)
    # The service listens on the address that was checked, not on a second lookup.
    listen = checked.address
    memory = (
        parse_memory_limit(opts.memory)
        if opts.memory
        else (workload.memory_bytes if workload and workload.memory_bytes else None)
    )
    if memory is None:
        memory = parse_bytes(DEFAULT_MEMORY)
        notes.append(f"no --memory and no manifest limit: drilled at {DEFAULT_MEMORY}")
    cpus = parse_cpus(opts.cpus) if opts.cpus else (workload.cpus if workload else None)
    env: dict[str, str] = dict(workload.env) if workload else {}
    env.update(_env_pairs(opts.env))
    # The drill owns the port and keeps the service on loopback (examples read ADDR).
    env["PORT"] = str(port)
    for name in sorted(hints.port_envs if hints else ()):
        # The code reads its port from these; a manifest's 8080 must not win.
        env[name] = str(port) if "ADDR" not in name.upper() else authority(listen, port)
    env.setdefault("ADDR", listen)
    ready = replace(_probe(opts, port, workload.ready_path if workload else None), address=listen)
    grace = parse_duration(opts.grace) if opts.grace else None
    if grace is None and workload is not None:
        # The kubelet runs preStop first; SIGTERM gets what is left of the grace period.
        grace = max(1.0, workload.grace_s - workload.prestop_s)
        if workload.prestop_s:
            notes.append(
                f"grace {workload.grace_s:g}s minus preStop {workload.prestop_s:g}s = {grace:g}s "
                "after SIGTERM"
            )
    sig_text = opts.stop_signal or (workload.stop_signal if workload else None) or dockerfile_signal
    stop: signal.Signals = parse_signal(sig_text) if sig_text else signal.SIGTERM
    max_startup = parse_duration(opts.max_startup) if opts.max_startup else None
    if max_startup is None and workload is not None and workload.startup_budget_s:
        max_startup = workload.startup_budget_s
    duration = parse_duration(opts.duration)
    if opts.rate and opts.ramp:
        raise InputError("give --rate or --ramp, not both")
    steps = parse_rate_spec(opts.ramp or opts.rate or DEFAULT_RATE, duration)
    slo = parse_slo(opts.slo)
    try:
        sandbox = SandboxChoice(opts.sandbox)
        engine = Engine(opts.engine)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    requests = _requests(opts, main_dir)
    config = DrillConfig(
        command=command,
        memory_bytes=memory,
        port=port,
        ready=ready,
        requests=requests[0],
        request_alternates=requests[1:],
        steps=steps,
        work_dir=Path(),
        cpus=cpus,
        env=env,
        base_env=dict(base_env or {}),
        sandbox=sandbox,
        grace_s=grace if grace is not None else DEFAULT_GRACE_S,
        stop_signal=stop,
        slo_percentile=slo.percentile,
        slo_ms=slo.threshold_ms,
        target_rate=opts.target_rate,
        max_startup_s=max_startup if max_startup is not None else DEFAULT_MAX_STARTUP_S,
        startup_timeout_s=parse_duration(opts.startup_timeout),
        connections=opts.connections,
        request_timeout_s=parse_duration(opts.timeout),
        engine=engine,
        allow_remote=opts.allow_remote,
        shutdown_test=opts.shutdown_test,
        sample_hz=opts.sample_hz,
        host=opts.host,
        address=listen,
        thrash_after_s=parse_duration(opts.thrash_after),
    )
    return DrillPlan(config, tuple(notes), main_dir)


def _probe(opts: DrillOptions, port: int, manifest_path: str | None) -> ReadyProbe:
    if opts.ready_cmd:
        return ReadyProbe(ProbeKind.COMMAND, port=port, command=opts.ready_cmd)
    if opts.ready:
        return replace_host(parse_probe(opts.ready, port), opts.host)
    if manifest_path:
        return ReadyProbe(ProbeKind.HTTP, port=port, path=manifest_path, host=opts.host)
    return ReadyProbe(ProbeKind.TCP, port=port, host=opts.host)


def replace_host(probe: ReadyProbe, host: str) -> ReadyProbe:
    """``probe`` aimed at ``host``."""
    return ReadyProbe(probe.kind, probe.port, probe.path, probe.command, host, probe.timeout_s)


def describe_env(env: Mapping[str, str]) -> str:
    """``GOMEMLIMIT=115MiB PORT=18090`` (sorted) for the report."""
    return " ".join(f"{k}={v}" for k, v in sorted(env.items()))
