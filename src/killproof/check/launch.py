"""Launches (see :mod:`killproof.facts.deploy`) from Kubernetes, compose and systemd."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from killproof.facts.deploy import EnvVar, Launch, LaunchKind, Limit
from killproof.sources.deploy.compose import ComposeFile
from killproof.sources.deploy.manifests import Container, ManifestSet, prestop_seconds
from killproof.sources.deploy.quantity import (
    QuantityError,
    cpu_cores,
    memory_bytes,
    parse_docker_bytes,
    parse_duration_s,
    parse_systemd_bytes,
    parse_systemd_timespan_s,
)
from killproof.sources.deploy.systemd_unit import SystemdUnit
from killproof.sources.deploy.yamltree import Pos, YMap, dig, dig_pos, iter_maps

COMPOSE_DEFAULT_GRACE_S = 10.0
SYSTEMD_DEFAULT_GRACE_S = 90.0


def _quantity(value: object, at: Pos, memory: bool) -> Limit | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        number = memory_bytes(value) if memory else cpu_cores(value)  # type: ignore[arg-type]
    except QuantityError:
        return None
    return Limit(float(number), at, str(value))


def _docker_size(value: object, at: Pos) -> Limit | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        return Limit(float(parse_docker_bytes(value)), at, str(value))  # type: ignore[arg-type]
    except QuantityError:
        return None


def _k8s_env(container: Container) -> tuple[dict[str, EnvVar], bool]:
    env: dict[str, EnvVar] = {}
    incomplete = False
    spec = container.spec
    manifests_cm: dict[str, object] = {}
    del manifests_cm
    for item in iter_maps(spec.get("env")):
        name = str(item.get("name", ""))
        at = item.pos("value") if "value" in item else item.pos("name")
        ref = dig(item, "valueFrom", "resourceFieldRef")
        if isinstance(ref, YMap):
            divisor = 1
            if ref.get("divisor") is not None:
                try:
                    divisor = memory_bytes(ref["divisor"]) or 1
                except QuantityError:
                    divisor = 1
            env[name] = EnvVar(
                name, None, dig_pos(item, "valueFrom"), str(ref.get("resource", "")), divisor
            )
        elif "value" in item:
            env[name] = EnvVar(name, None if item["value"] is None else str(item["value"]), at)
        else:
            env[name] = EnvVar(name, None, at)
    if spec.get("envFrom") is not None:
        incomplete = True
    return env, incomplete


def _envfrom_configmaps(
    manifests: ManifestSet, container: Container, env: dict[str, EnvVar]
) -> bool:
    """Fill ``env`` from ConfigMaps found in the set; True when some source stayed unknown."""
    unknown = False
    obj = container.workload.obj
    for src in iter_maps(container.spec.get("envFrom")):
        name = dig(src, "configMapRef", "name")
        cm = manifests.config_map(str(name), obj.namespace, obj.origin) if name else None
        if cm is None or not isinstance(cm.body.get("data"), YMap):
            unknown = True
            continue
        data: YMap = cm.body["data"]
        for key, value in data.items():
            env.setdefault(key, EnvVar(key, str(value), data.pos(key)))
    return unknown


def k8s_launches(manifests: ManifestSet) -> Iterator[Launch]:
    """One launch per container that runs all along or per Job container."""
    for c in manifests.containers():
        if c.role.value == "initContainer":
            continue
        w = c.workload
        env, incomplete = _k8s_env(c)
        if incomplete:
            incomplete = _envfrom_configmaps(manifests, c, env)
        grace_set = "terminationGracePeriodSeconds" in w.pod_spec
        # Kubernetes 1.33+ (ContainerStopSignals): the container's own stop signal.
        stop = dig(c.spec, "lifecycle", "stopSignal")
        yield Launch(
            kind=LaunchKind.KUBERNETES,
            subject=c.subject,
            at=c.at,
            names=frozenset(
                {w.obj.name, f"{w.kind}/{w.obj.name}", c.name, f"{w.obj.name}/{c.name}"}
            ),
            argv=tuple(c.argv()),
            command_set="command" in c.spec,
            argv_at=c.spec.pos("command")
            if "command" in c.spec
            else (c.spec.pos("args") if "args" in c.spec else None),
            image=str(c.spec.get("image", "")),
            env=env,
            env_incomplete=incomplete,
            memory_limit=_quantity(
                c.resource("limits", "memory"),
                dig_pos(c.spec, "resources", "limits", "memory"),
                True,
            ),
            cpu_limit=_quantity(
                c.resource("limits", "cpu"), dig_pos(c.spec, "resources", "limits", "cpu"), False
            ),
            stop_signal=(
                Limit(0, dig_pos(c.spec, "lifecycle", "stopSignal"), str(stop)) if stop else None
            ),
            grace=Limit(
                w.grace_s, w.pod_spec.pos("terminationGracePeriodSeconds") if grace_set else c.at
            ),
            grace_is_default=not grace_set,
            prestop_s=prestop_seconds(c),
            container=c,
        )


def compose_launches(compose: ComposeFile) -> Iterator[Launch]:
    """One launch per compose service."""
    base = posixpath.dirname(compose.path)
    for svc in compose.services:
        env = {k: EnvVar(k, v, at) for k, (v, at) in svc.env().items()}
        mem = svc.memory_limit()
        cpu = svc.cpu_limit()
        grace: Limit | None = Limit(COMPOSE_DEFAULT_GRACE_S, svc.at)
        grace_default = True
        if svc.body.get("stop_grace_period") is not None:
            try:
                grace = Limit(
                    parse_duration_s(svc.body["stop_grace_period"]),
                    svc.body.pos("stop_grace_period"),
                )
                grace_default = False
            except QuantityError:
                grace = None
        signal = svc.body.get("stop_signal")
        build = svc.build_context()
        argv = (svc.argv("entrypoint") or []) + (svc.argv("command") or [])
        yield Launch(
            kind=LaunchKind.COMPOSE,
            subject=f"service {svc.name}",
            at=svc.at,
            names=frozenset({svc.name, f"compose:{svc.name}"}),
            argv=tuple(argv),
            command_set="entrypoint" in svc.body,
            argv_at=next(
                (svc.body.pos(k) for k in ("entrypoint", "command") if k in svc.body), None
            ),
            image=str(svc.body.get("image", "")),
            build=(
                (
                    posixpath.normpath(posixpath.join(base, build[0])),
                    posixpath.normpath(posixpath.join(base, build[0], build[1])),
                )
                if build
                else None
            ),
            env=env,
            env_incomplete=svc.body.get("env_file") is not None,
            memory_limit=_docker_size(mem[0], mem[1]) if mem else None,
            cpu_limit=_quantity(cpu[0], cpu[1], False) if cpu else None,
            stop_signal=Limit(0, svc.body.pos("stop_signal"), str(signal)) if signal else None,
            grace=grace,
            grace_is_default=grace_default,
        )


def systemd_launch(unit: SystemdUnit) -> Launch | None:
    """The launch of a ``.service`` unit (None for other unit types)."""
    if not unit.name.endswith(".service"):
        return None
    service_at = Pos(unit.path, unit.section_line("Service"))
    env = {k: EnvVar(k, v, Pos(d.path, d.line)) for k, (v, d) in unit.environment().items()}
    memory: Limit | None = None
    for key in ("MemoryMax", "MemoryLimit", "MemoryHigh"):
        d = unit.get("Service", key)
        if d is not None:
            try:
                size = parse_systemd_bytes(d.value)
            except QuantityError:
                size = None
            if size is not None:
                memory = Limit(float(size), Pos(d.path, d.line), d.value)
                break
    cpu: Limit | None = None
    quota = unit.get("Service", "CPUQuota")
    if quota is not None and quota.value.endswith("%"):
        try:
            cpu = Limit(float(quota.value[:-1]) / 100, Pos(quota.path, quota.line), quota.value)
        except ValueError:
            cpu = None
    grace: Limit | None = Limit(SYSTEMD_DEFAULT_GRACE_S, service_at)
    grace_default = True
    for key in ("TimeoutSec", "TimeoutStopSec"):  # TimeoutStopSec wins when both are set
        d = unit.get("Service", key)
        if d is not None:
            try:
                seconds = parse_systemd_timespan_s(d.value)
            except QuantityError:
                continue
            grace = None if seconds is None else Limit(seconds, Pos(d.path, d.line), d.value)
            grace_default = False
    signal = unit.get("Service", "KillSignal")
    stem = unit.name.removesuffix(".service")
    return Launch(
        kind=LaunchKind.SYSTEMD,
        subject=f"unit {unit.name}",
        at=service_at,
        names=frozenset({unit.name, stem}),
        argv=tuple(unit.exec_argv()),
        command_set=True,
        argv_at=Pos(start.path, start.line)
        if (start := unit.get("Service", "ExecStart"))
        else None,
        env=env,
        env_incomplete=unit.get("Service", "EnvironmentFile") is not None,
        memory_limit=memory,
        cpu_limit=cpu,
        stop_signal=Limit(0, Pos(signal.path, signal.line), signal.value) if signal else None,
        grace=grace,
        grace_is_default=grace_default,
    )
