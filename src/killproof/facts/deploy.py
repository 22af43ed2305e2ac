"""The facts every deploy-file rule (KP2xx, KP3xx, KP5xx) is a pure function of.

A :class:`Launch` is one way a process gets started and bounded, whatever the file: a
Kubernetes container, a compose service or a systemd unit. Rules about GOMEMLIMIT, stop
signals, grace periods and CPU limits judge launches, so they are written once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from killproof.facts.go_program import GoProgram
from killproof.sources.deploy.compose import ComposeFile
from killproof.sources.deploy.dockerfile import Dockerfile
from killproof.sources.deploy.entrypoint import Script
from killproof.sources.deploy.manifests import Container, ManifestSet
from killproof.sources.deploy.systemd_unit import SystemdUnit
from killproof.sources.deploy.yamltree import Pos


class LaunchKind(enum.Enum):
    """Which kind of file a launch comes from."""

    KUBERNETES = "kubernetes"
    COMPOSE = "compose"
    SYSTEMD = "systemd"


@dataclass(frozen=True)
class EnvVar:
    """One environment variable as a launch sets it.

    ``value`` is None when it comes from elsewhere: ``field_ref`` names the resource of a
    ``resourceFieldRef`` (``limits.memory``) and ``divisor`` its divisor in bytes.
    """

    name: str
    value: str | None
    at: Pos
    field_ref: str = ""
    divisor: int = 1


@dataclass(frozen=True)
class Limit:
    """A number with the line that sets it (bytes for memory, cores for CPU, seconds)."""

    value: float
    at: Pos
    text: str = ""


@dataclass(frozen=True)
class Launch:
    """How one process is started and bounded (see module docstring)."""

    kind: LaunchKind
    subject: str
    at: Pos
    names: frozenset[str]
    """Names ``.killproof.yaml`` pairs may use for it (workload, container, service, unit)."""
    argv: tuple[str, ...] = ()
    argv_at: Pos | None = None
    """Where the command is written (None when the image's default runs)."""
    command_set: bool = False
    """The launch names the executable (container ``command``, compose ``entrypoint``,
    ``ExecStart=``), not only arguments for the image's ENTRYPOINT."""
    image: str = ""
    build: tuple[str, str] | None = None
    """(context dir relative to the root, Dockerfile path relative to the root)."""
    env: Mapping[str, EnvVar] = field(default_factory=dict)
    env_incomplete: bool = False
    """envFrom/env_file/EnvironmentFile it could not read: absent variables may be set."""
    memory_limit: Limit | None = None
    cpu_limit: Limit | None = None
    stop_signal: Limit | None = None
    """``value`` unused; ``text`` is the signal name as written."""
    grace: Limit | None = None
    """The grace period in seconds; ``at`` is where it is set or where to set it."""
    grace_is_default: bool = True
    prestop_s: float = 0.0
    container: Container | None = None

    @property
    def identity(self) -> tuple[str, int]:
        """The same container from several kustomize overlays shares this."""
        return (self.at.path, self.at.line)


@dataclass(frozen=True)
class Thresholds:
    """Numbers users tune in ``.killproof.yaml`` ``thresholds:``."""

    overcommit_ratio: float = 2.0
    gomemlimit_max_fraction: float = 0.95
    startup_seconds: float | None = None
    """How long the app takes to become ready, when no readiness probe says it."""


@dataclass(frozen=True)
class LinkedLaunch:
    """A launch and the Go program (and Dockerfile) it runs, when known."""

    launch: Launch
    program: GoProgram | None = None
    dockerfile: Dockerfile | None = None
    how: str = ""
    """Why they were linked (``command``, ``image``, ``pairs`` …), for evidence."""

    def env(self) -> dict[str, EnvVar]:
        """The environment the process sees: the image's ENV, then the launch's own."""
        out: dict[str, EnvVar] = {}
        if self.dockerfile is not None:
            for name, (value, line) in self.dockerfile.env().items():
                out[name] = EnvVar(name, value, Pos(self.dockerfile.path, line))
        out.update(self.launch.env)
        return out


@dataclass(frozen=True)
class LinkedDockerfile:
    """A Dockerfile and the Go program its final stage runs, when known."""

    dockerfile: Dockerfile
    program: GoProgram | None = None


@dataclass(frozen=True)
class DeployFacts:
    """Everything the deploy-file rules see."""

    manifests: ManifestSet = field(default_factory=ManifestSet)
    launches: tuple[LinkedLaunch, ...] = ()
    dockerfiles: tuple[LinkedDockerfile, ...] = ()
    composes: tuple[ComposeFile, ...] = ()
    units: tuple[SystemdUnit, ...] = ()
    scripts: Mapping[str, Script] = field(default_factory=dict)
    """Entrypoint scripts by root-relative path."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    programs: tuple[GoProgram, ...] = ()

    def supervisor_of(self, linked: LinkedLaunch) -> str:
        """The process supervisor (``s6-overlay``, ``supervisord``, ``runit``) the launch's
        image starts its Go program under, beside other processes that share its limits;
        "" when the launch names its own command or the image is not known to use one.
        The image is the Dockerfile a compose service builds, else every Dockerfile that
        builds its program (all of them must agree: an image name does not say which)."""
        if linked.launch.command_set or linked.program is None:
            return ""
        if linked.launch.build is not None and linked.dockerfile is not None:
            return linked.dockerfile.supervisor()
        found = {d.dockerfile.supervisor() for d in self.dockerfiles if d.program == linked.program}
        if linked.dockerfile is not None:
            found.add(linked.dockerfile.supervisor())
        return found.pop() if len(found) == 1 else ""

    def launch_for(self, container: Container) -> LinkedLaunch | None:
        """The linked launch of a Kubernetes container (matched by its spec mapping)."""
        return self.launch_index.get(id(container.spec))

    @cached_property
    def launch_index(self) -> dict[int, LinkedLaunch]:
        """Launches by the id of their container spec (built once, on first use)."""
        return {
            id(linked.launch.container.spec): linked
            for linked in self.launches
            if linked.launch.container is not None
        }
