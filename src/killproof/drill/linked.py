"""``drill PATH`` through the checker: the Go main and the launch ``check`` links to it.

``killproof check`` parses the Go code (tree-sitter-go) and the deploy files (Kubernetes,
compose, systemd, Dockerfiles) and links each launch to the program it runs. This adapter
asks it for that pair and turns the launch into a :class:`~killproof.drill.workload.
Workload`: limit, CPUs, env, probes, port, grace period, preStop and stop signal. It also
takes from the program the env names it reads its port from and the paths it serves, so a
repo ``check`` understands needs no flags at all.

The repository is read once, by :func:`killproof.check.repo.read_repo` (the reader
``check`` uses): files the checker cannot parse are skipped here as they are there, and
the drill notes them.
Units: bytes, CPUs, seconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from killproof.check.repo import RepoOptions, read_repo
from killproof.drill.settings import DEFAULT_GRACE_S
from killproof.drill.workload import PathPlan, Workload, dockerfile_stop_signal
from killproof.errors import InputError
from killproof.facts.deploy import LaunchKind, LinkedLaunch
from killproof.facts.go_program import GoProgram

_PROBE_PATHS = {"/healthz", "/readyz", "/livez", "/health", "/ready", "/metrics"}


@dataclass(frozen=True)
class ProgramHints:
    """What the Go code says that a drill can use."""

    port_envs: frozenset[str]
    """Env names the listen port or address is read from (``PORT``, ``HTTP_PORT``)."""
    request_path: str | None
    """A path the program serves that is not a probe (``/orders``), for the default load."""


def _budget(probe: Mapping[str, Any] | None) -> float | None:
    if probe is None:
        return None

    def num(key: str, default: float) -> float:
        v = probe.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default

    return num("initialDelaySeconds", 0) + num("failureThreshold", 3) * num("periodSeconds", 10)


def to_workload(linked: LinkedLaunch) -> Workload:
    """The drill's view of a linked launch (literal env values only)."""
    launch = linked.launch
    c = launch.container
    ready = c.probe("readiness") if c is not None else None
    http = ready.get("httpGet") if ready is not None else None
    ports = [p.get("containerPort") for p in c.ports] if c is not None else []
    startup = (_budget(c.probe("startup")) or _budget(c.probe("liveness"))) if c else None
    return Workload(
        path=launch.at.path,
        line=launch.at.line,
        name=launch.subject,
        container=c.name if c is not None else launch.subject,
        image=launch.image,
        memory_bytes=int(launch.memory_limit.value) if launch.memory_limit else None,
        cpus=launch.cpu_limit.value if launch.cpu_limit else None,
        env={k: v.value for k, v in linked.env().items() if v.value is not None},
        port=ports[0] if ports and isinstance(ports[0], int) else None,
        ready_path=str(http["path"]) if isinstance(http, Mapping) and http.get("path") else None,
        startup_budget_s=startup,
        grace_s=launch.grace.value if launch.grace else DEFAULT_GRACE_S,
        prestop_s=launch.prestop_s,
        stop_signal=launch.stop_signal.text if launch.stop_signal else None,
    )


def hints(program: GoProgram) -> ProgramHints:
    """Port env names and a non-probe request path from the program's facts."""
    paths = sorted(
        p
        for p in program.handler_paths
        if p not in _PROBE_PATHS and p != "/" and not p.startswith("/debug/")
    )
    return ProgramHints(frozenset(program.listen_port_envs), paths[0] if paths else None)


def plan_path(root: Path) -> tuple[PathPlan, ProgramHints]:
    """The main package to build and the launch it runs; InputError when ambiguous.

    The repository is read by :func:`~killproof.check.repo.read_repo`, as ``check`` reads
    it (same walk, scope, kustomize overlays and links), so a drill runs under the limit
    ``check`` judged. Deploy files that could not be read are named in the notes."""
    if not root.is_dir():
        raise InputError("not a directory", str(root))
    repo = read_repo(root, RepoOptions(jobs=1))
    programs = repo.go.programs
    if not programs:
        raise InputError("no Go main package found (package main with func main)", str(root))
    linked = [x for x in repo.deploy.facts.launches if x.program is not None]
    notes = [f"not read: {s.what}: {s.reason}" for s in repo.deploy.files.skipped if s.failure]
    if len(programs) == 1:
        program = programs[0]
    else:
        with_launch = {x.program.dir: x.program for x in linked if x.program is not None}
        if len(with_launch) != 1:
            listed = ", ".join(p.dir for p in programs)
            raise InputError(f"several Go main packages ({listed}); drill one directory", str(root))
        program = next(iter(with_launch.values()))
    mine = [x for x in linked if x.program is not None and x.program.dir == program.dir]
    shown = os.path.normpath(root / program.dir)  # `examples/orders`, never `.`
    # Kubernetes first: it carries probes and ports, which compose and systemd do not.
    mine.sort(key=lambda x: x.launch.kind is not LaunchKind.KUBERNETES)
    workload = to_workload(mine[0]) if mine else None
    if workload is not None and mine[0].how:
        notes.append(f"{workload.name} runs {shown} (linked by {mine[0].how})")
    if len(mine) > 1:
        notes.append(f"{len(mine)} launches run {shown}; using {mine[0].launch.subject}")
    if workload is None:
        notes.append(f"no launch of {shown} found: default limits and probes")
    main_dir = (root / program.dir).resolve()
    plan = PathPlan(main_dir, workload, dockerfile_stop_signal(main_dir), tuple(notes))
    return plan, hints(program)
