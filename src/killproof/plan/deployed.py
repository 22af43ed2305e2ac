"""What is deployed now: the container ``plan`` sizes, and its current settings.

``--manifest FILE`` names the file; with a repository PATH the container is the one
``check`` links to the Go main (:func:`linked_container`, the one place that asks the
checker, so a shared repository reader can replace it). Reads files; everything else in
:mod:`killproof.plan` is pure.

Units: bytes, CPU cores, seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from killproof.errors import InputError
from killproof.sources.deploy.manifests import (
    Container,
    ContainerRole,
    ManifestSet,
    parse_manifests,
    prestop_seconds,
)
from killproof.sources.deploy.quantity import (
    QuantityError,
    cpu_cores,
    gomemlimit_bytes,
    memory_bytes,
)
from killproof.sources.deploy.yamltree import YamlError, dig

_GO_LINE = re.compile(r"^\s*(toolchain\s+go|go\s+)(\d+)\.(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Deployed:
    """One container's current settings (None: not set) and where it is written.

    ``path`` is the manifest file as given (or found under the repository root).
    """

    path: str
    kind: str
    name: str
    namespace: str
    container: str
    memory_request_bytes: int | None = None
    memory_limit_bytes: int | None = None
    cpu_request_cores: float | None = None
    cpu_limit_cores: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Literal ``value:`` env entries (GOMEMLIMIT, GOGC, GOMAXPROCS …)."""
    grace_s: float | None = None
    """``terminationGracePeriodSeconds`` when written (Kubernetes' default is 30 s)."""
    prestop_s: float = 0.0
    replicas: int | None = None
    go_version: tuple[int, int] | None = None
    """From go.mod's ``go`` (else ``toolchain``) line, when one was found."""

    @property
    def gomemlimit_bytes(self) -> int | None:
        """The GOMEMLIMIT env value in bytes, when set and readable."""
        text = self.env.get("GOMEMLIMIT")
        try:
            return gomemlimit_bytes(text) if text else None
        except QuantityError:
            return None


def _quantity(value: object, memory: bool) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return memory_bytes(str(value)) if memory else cpu_cores(str(value))
    except (QuantityError, ValueError):
        return None


def deployed_of(container: Container, path: str) -> Deployed:
    """The settings of ``container`` (read from ``path``)."""
    workload = container.workload
    mem_req = _quantity(container.resource("requests", "memory"), True)
    mem_lim = _quantity(container.resource("limits", "memory"), True)
    env = {
        str(e.get("name")): str(e.get("value"))
        for e in container.spec.get("env") or []
        if isinstance(e, Mapping) and e.get("value") is not None
    }
    grace = workload.pod_spec.get("terminationGracePeriodSeconds")
    replicas = dig(workload.obj.body, "spec", "replicas")
    return Deployed(
        path=path,
        kind=workload.kind,
        name=workload.obj.name,
        namespace=workload.obj.namespace,
        container=container.name,
        memory_request_bytes=None if mem_req is None else int(mem_req),
        memory_limit_bytes=None if mem_lim is None else int(mem_lim),
        cpu_request_cores=_quantity(container.resource("requests", "cpu"), False),
        cpu_limit_cores=_quantity(container.resource("limits", "cpu"), False),
        env=env,
        grace_s=float(grace) if isinstance(grace, int | float) and grace is not True else None,
        prestop_s=prestop_seconds(container),
        replicas=replicas if isinstance(replicas, int) and replicas is not True else None,
    )


def go_version_near(start: Path) -> tuple[int, int] | None:
    """The ``go`` line of the nearest go.mod at or above ``start`` (else its ``toolchain``).

    The ``go`` line, not the toolchain, decides runtime defaults: a GODEBUG setting such
    as ``containermaxprocs`` defaults to the behaviour of the main module's Go version."""
    here = start.resolve()
    for directory in (here, *here.parents):
        gomod = directory / "go.mod"
        if gomod.is_file():
            found = {m.group(1).split()[0]: (int(m.group(2)), int(m.group(3)))
                     for m in _GO_LINE.finditer(gomod.read_text(errors="replace"))}  # fmt: skip
            return found.get("go") or found.get("toolchain")
    return None


def from_manifest(path: Path, service: str) -> Deployed:
    """The container in ``path`` to size: the only long-running one, else the one named
    like the drilled binary (``service``). InputError when none or several match."""
    try:
        objects = parse_manifests(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise InputError(f"cannot read manifest: {exc.strerror}", str(path)) from exc
    except YamlError as exc:
        raise InputError(f"cannot read manifest: {exc}", str(path)) from exc
    containers = [
        c
        for c in ManifestSet.of(objects).containers()
        if c.workload.long_running and c.role is ContainerRole.APP
    ]
    if len(containers) > 1:
        containers = [c for c in containers if c.name == service] or containers
    if not containers:
        raise InputError("no long-running workload container to size", str(path))
    if len(containers) > 1:
        names = ", ".join(c.subject for c in containers)
        raise InputError(f"several containers ({names}); none is named {service!r}", str(path))
    found = deployed_of(containers[0], str(path))
    return _with_go(found, path.parent)


def _with_go(found: Deployed, near: Path) -> Deployed:
    return replace(found, go_version=go_version_near(near))


def linked_container(root: Path) -> Deployed | None:
    """The container ``check`` links to the Go main under ``root`` (as ``drill PATH``
    uses it), or None when no Kubernetes workload runs it."""
    from killproof.drill.linked import plan_path  # the checker: imported only for a PATH

    path_plan, _ = plan_path(root)
    workload = path_plan.workload
    if workload is None or not workload.path.endswith((".yaml", ".yml")):
        return None
    manifest = root / workload.path
    objects = parse_manifests(manifest.read_text(encoding="utf-8"), str(manifest))
    for c in ManifestSet.of(objects).containers():
        if c.at.line == workload.line:
            return _with_go(deployed_of(c, str(manifest)), path_plan.main_dir)
    return None
