"""What a drill observed, as frozen values: the facts the KP6xx rules judge.

Everything the sandbox, sampler, load steps and shutdown test measured ends up in one
:class:`DrillResult`. Rules and the verdict read it and never touch a process.

Units: ``*_bytes`` bytes, ``*_s`` seconds (``t_s`` is seconds since the process started),
``*_ms`` milliseconds, rates in requests per second.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from killproof.facts.load import StepResult


class SandboxKind(enum.Enum):
    """How the memory limit was enforced (names are a JSON contract)."""

    CGROUP_V2 = "cgroup-v2"
    CGROUP_V1 = "cgroup-v1"
    SYSTEMD_SCOPE = "systemd-run"
    DOCKER = "docker"
    PODMAN = "podman"
    WATCHDOG = "watchdog"

    @property
    def is_emulated(self) -> bool:
        """True when the limit is only emulated by polling RSS (no kernel enforcement)."""
        return self is SandboxKind.WATCHDOG


@dataclass(frozen=True)
class Sample:
    """One sampler tick. ``None`` means "not available", never zero."""

    t_s: float
    rss_bytes: int | None = None
    pss_bytes: int | None = None
    cgroup_usage_bytes: int | None = None
    cgroup_limit_bytes: int | None = None
    failcnt: int | None = None
    """cgroup v1 ``memory.failcnt``, or v2 ``memory.events`` ``max``: times the limit was hit."""
    oom_kills: int | None = None
    goroutines: int | None = None
    heap_inuse_bytes: int | None = None
    gc_count: int | None = None
    step: int = -1
    """Index of the load step running at this tick (-1 before load or after it)."""
    cpu_seconds: float | None = None
    """User + system CPU time the process has used since it started (seconds, cumulative)."""

    @property
    def memory_bytes(self) -> int | None:
        """The number the limit is compared with: cgroup usage when known, else RSS."""
        return self.cgroup_usage_bytes if self.cgroup_usage_bytes is not None else self.rss_bytes

    def to_json(self) -> dict[str, Any]:
        """JSON form (every field; ``cpu_seconds`` only when sampled, so reports of
        scripted drills, which have no process, read as before)."""
        out = asdict(self)
        if self.cpu_seconds is None:
            del out["cpu_seconds"]
        return out


@dataclass(frozen=True)
class AllocationSite:
    """One entry of a heap profile's top list (in-use bytes at a source position)."""

    function: str
    file: str
    line: int
    inuse_bytes: int

    def __str__(self) -> str:
        return f"{self.function} {self.file}:{self.line} ({self.inuse_bytes} bytes in use)"


@dataclass(frozen=True)
class HeapProfile:
    """A heap profile fetched from ``/debug/pprof/heap`` and kept on disk."""

    path: str
    t_s: float
    reason: str
    """``step-end``, ``memory-80%`` (crossed 80 % of the limit) …"""
    memory_bytes: int | None = None
    top: tuple[AllocationSite, ...] = ()
    error: str = ""
    """Why the profile could not be decoded (the raw file is still kept)."""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "path": self.path,
            "t_s": self.t_s,
            "reason": self.reason,
            "memory_bytes": self.memory_bytes,
            "top": [asdict(s) for s in self.top],
            "error": self.error,
        }


@dataclass(frozen=True)
class Exit:
    """How the process ended: ``code`` for a normal exit, ``signal`` when killed by one."""

    t_s: float
    code: int | None = None
    signal: str | None = None

    @property
    def ok(self) -> bool:
        """True for exit status 0."""
        return self.code == 0

    def describe(self) -> str:
        """``exit status 1`` or ``killed by SIGKILL``."""
        return f"killed by {self.signal}" if self.signal else f"exit status {self.code}"


@dataclass(frozen=True)
class OomRecord:
    """The process was killed for memory: by the kernel (cgroup/kernel log) or the watchdog."""

    t_s: float
    source: str
    """``cgroup-events`` (memory.events / memory.oom_control oom_kill), ``kernel-log``,
    ``watchdog`` (emulated limit), ``container-runtime`` (docker/podman ``OOMKilled``),
    ``go-runtime`` (the Go allocator's own ``fatal error: runtime: out of memory``),
    ``exit-status`` (SIGKILL at the limit, no other record)."""
    limit_bytes: int
    memory_bytes: int | None = None
    """Usage at the last sample before the kill."""
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShutdownTimeline:
    """What happened after the stop signal (seconds since the signal)."""

    signal: str
    grace_s: float
    exited: bool
    exit_after_s: float | None = None
    exit: Exit | None = None
    within_grace: bool = False
    readiness_failed_after_s: float | None = None
    listener_closed_after_s: float | None = None
    requests_after_signal: int = 0
    ok_after_signal: int = 0
    failed_after_signal: int = 0
    """Requests sent after the signal that were reset, cut short, timed out or got a 5xx
    while the process still accepted connections: what clients see as dropped."""
    refused_after_signal: int = 0
    """Connections refused once the listener had closed (expected after a drain)."""
    failure_examples: tuple[str, ...] = ()
    sigquit_sent: bool = False
    sigkill_sent: bool = False
    goroutine_dump: str = ""
    """The Go runtime's SIGQUIT dump (from stderr) when the grace period was overrun."""
    clients: int = 0
    """Keep-alive client threads sending requests through the test."""

    @property
    def readiness_before_close(self) -> bool | None:
        """True when readiness failed before the listener closed; None when unknown."""
        if self.readiness_failed_after_s is None:
            return None if self.listener_closed_after_s is None else False
        if self.listener_closed_after_s is None:
            return True
        return self.readiness_failed_after_s < self.listener_closed_after_s

    @property
    def reacted(self) -> bool:
        """True when the process did anything visible within the grace period (an exit
        forced by SIGQUIT/SIGKILL afterwards does not count)."""
        return (
            self.within_grace
            or self.readiness_failed_after_s is not None
            or self.listener_closed_after_s is not None
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        out = asdict(self)
        out["readiness_failed_before_listener_closed"] = self.readiness_before_close
        return out


@dataclass(frozen=True)
class LeakFlag:
    """When the online leak judge first called the memory leak, from the samples up to then
    (seconds since the process started, bytes, bytes per second)."""

    t_s: float
    slope_per_s: float
    confidence: float
    memory_bytes: float
    seconds_to_limit: float | None
    """The projection made at the flag: the limit this many seconds later at that slope."""
    withdrawn_at_s: float | None = None
    """The judge withdrew the flag later (growth levelled off), at this time."""
    load_start_s: float | None = None
    """The first load-step sample: the leak can't be seen before."""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class DrillLimits:
    """What the drill judged against (bytes, seconds, milliseconds)."""

    memory_bytes: int
    grace_s: float = 30.0
    max_startup_s: float = 10.0
    slo_percentile: float = 99.0
    slo_ms: float = 300.0
    target_rate: float | None = None
    """The rate the service must hold (``--target-rate``); the highest step otherwise."""


@dataclass(frozen=True)
class DrillResult:
    """Everything one drill observed; input of the KP6xx rules and the verdict."""

    command: tuple[str, ...]
    sandbox: SandboxKind
    limits: DrillLimits
    ready: bool
    startup_s: float | None = None
    startup_error: str = ""
    samples: tuple[Sample, ...] = ()
    steps: tuple[StepResult, ...] = ()
    profiles: tuple[HeapProfile, ...] = ()
    oom: OomRecord | None = None
    exit: Exit | None = None
    """How the process ended when it died before the shutdown test (None if it lived)."""
    shutdown: ShutdownTimeline | None = None
    thrash_detected_at_s: float | None = None
    notes: tuple[str, ...] = ()
    """What the drill could not do or emulated (said out loud, never silent)."""
    kernel_events: tuple[str, ...] = field(default=())
    """Kernel log lines about the kill, when available."""
    request: str = ""
    """The request template the load sent (``GET /orders?id={n}``)."""
    request_origin: str = ""
    """Where it came from: ``--request``, a requests file, a route found in the code, a
    probe path."""
    interrupted: bool = False
    """The drill was stopped (Ctrl-C, SIGTERM) before it finished: a partial result."""
    leak_flag: LeakFlag | None = None
    """The online leak judge's first flag during the load (None: never flagged)."""
