"""What ``drill PATH`` takes from the launch that runs the Go main (see
:mod:`killproof.drill.linked`, which asks ``killproof check`` for it).

Units: bytes, CPUs, seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from killproof.drill.settings import DEFAULT_GRACE_S


@dataclass(frozen=True)
class Workload:
    """What a drill takes from one container of a Kubernetes workload."""

    path: str
    line: int
    name: str
    container: str
    image: str = ""
    memory_bytes: int | None = None
    cpus: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Literal ``value:`` entries only (valueFrom cannot be resolved offline)."""
    port: int | None = None
    ready_path: str | None = None
    startup_budget_s: float | None = None
    """initialDelaySeconds + failureThreshold × periodSeconds of the startup probe, else
    of the liveness probe: how long startup may take before the kubelet kills it."""
    grace_s: float = DEFAULT_GRACE_S
    prestop_s: float = 0.0
    stop_signal: str | None = None

    def describe(self) -> str:
        """``deploy/deployment.yaml:5 Deployment orders, container orders``."""
        return f"{self.path}:{self.line} {self.name}, container {self.container}"


def dockerfile_stop_signal(root: Path) -> str | None:
    """The ``STOPSIGNAL`` of ``root/Dockerfile`` (last one wins), if any."""
    path = root / "Dockerfile"
    if not path.is_file():
        return None
    signal = None
    for line in path.read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) == 2 and words[0].upper() == "STOPSIGNAL":
            signal = words[1]
    return signal


@dataclass(frozen=True)
class PathPlan:
    """What ``drill PATH`` will build and with what settings."""

    main_dir: Path
    workload: Workload | None
    stop_signal: str | None
    notes: tuple[str, ...] = ()
