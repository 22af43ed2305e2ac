"""Real memory cgroups for a drill: cgroup v2 and v1, created, read and removed.

A drill's cgroup is named ``killproof-drill-<owner pid>-<n>`` so that a later run can
recognise what a SIGKILLed run left behind (its owner pid is dead) and remove it.

Units: bytes for memory, CPUs as a float (``1.5`` = one and a half cores).
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PREFIX = "killproof-drill-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-(\d+)$")
MOUNT = Path("/sys/fs/cgroup")
"""Where the cgroup hierarchies are mounted; no drill cgroup lies anywhere else."""
_V1_PERIOD_US = 100_000
_UNLIMITED_V1 = 1 << 62
"""cgroup v1 prints "no limit" as a page-rounded LONG_MAX; anything above this is none."""


class CgroupVersion(enum.Enum):
    """Which cgroup hierarchy the memory controller lives in."""

    V1 = "v1"
    V2 = "v2"


@dataclass(frozen=True)
class CgroupRoot:
    """Where drill cgroups are created: the memory hierarchy (and v1's cpu hierarchy)."""

    version: CgroupVersion
    memory: Path
    cpu: Path | None = None
    """v1 only: the cpu controller's mount; v2 uses ``memory`` for both."""


def find_root(base: Path = MOUNT) -> CgroupRoot | None:
    """The writable memory-cgroup root on this machine, or None (not root, no controller).

    Paths are resolved (v1's ``cpu`` is often a symlink to ``cpu,cpuacct``), so every drill
    cgroup path recorded anywhere is its real path.
    """
    base = base.resolve()
    controllers = base / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split():
        return CgroupRoot(CgroupVersion.V2, base) if os.access(base, os.W_OK) else None
    v1 = base / "memory"
    if (v1 / "memory.limit_in_bytes").exists() and os.access(v1, os.W_OK):
        v1 = v1.resolve()
        cpu = (base / "cpu").resolve()
        has_cpu = (cpu / "cpu.cfs_quota_us").exists() and os.access(cpu, os.W_OK)
        return CgroupRoot(CgroupVersion.V1, v1, cpu if has_cpu else None)
    return None


@dataclass(frozen=True)
class MemoryState:
    """One reading of a memory cgroup's files (bytes; counts since creation)."""

    usage_bytes: int | None
    limit_bytes: int | None
    failcnt: int | None
    """v1 ``memory.failcnt``; v2 ``memory.events`` ``max`` (times usage hit the limit)."""
    oom: int | None
    """Times the OOM killer was invoked for this cgroup."""
    oom_kill: int | None
    """Processes the OOM killer killed in this cgroup."""


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _UNLIMITED_V1 else value


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def parse_flat_keyed(text: str) -> dict[str, int]:
    """Parse ``key value`` lines (``memory.events``, ``memory.oom_control``); skip bad lines."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _read_keyed(path: Path) -> dict[str, int]:
    try:
        return parse_flat_keyed(path.read_text())
    except OSError:
        return {}


def read_memory(path: Path, version: CgroupVersion) -> MemoryState:
    """Read usage, limit and event counters of the memory cgroup at ``path``."""
    if version is CgroupVersion.V2:
        events = _read_keyed(path / "memory.events")
        return MemoryState(
            usage_bytes=_read_int(path / "memory.current"),
            limit_bytes=_read_int(path / "memory.max"),
            failcnt=events.get("max"),
            oom=events.get("oom"),
            oom_kill=events.get("oom_kill"),
        )
    control = _read_keyed(path / "memory.oom_control")
    return MemoryState(
        usage_bytes=_read_int(path / "memory.usage_in_bytes"),
        limit_bytes=_read_int(path / "memory.limit_in_bytes"),
        failcnt=_max(_read_int(path / "memory.failcnt"), _read_int(path / "memory.memsw.failcnt")),
        oom=None,
        oom_kill=control.get("oom_kill"),
    )


@dataclass(frozen=True)
class MemoryCgroup:
    """One drill cgroup (v1: a memory dir and maybe a cpu dir; v2: one dir)."""

    name: str
    version: CgroupVersion
    memory_dir: Path
    cpu_dir: Path | None = None

    @property
    def dirs(self) -> tuple[Path, ...]:
        """Every directory this cgroup consists of."""
        return (self.memory_dir,) if self.cpu_dir is None else (self.memory_dir, self.cpu_dir)

    def procs_files(self) -> tuple[Path, ...]:
        """The ``cgroup.procs`` files a process must be written to, to join this cgroup."""
        return tuple(d / "cgroup.procs" for d in self.dirs)

    def read(self) -> MemoryState:
        """Current usage, limit and event counters."""
        return read_memory(self.memory_dir, self.version)

    def pids(self) -> list[int]:
        """Processes in the cgroup now."""
        return _pids(self.memory_dir)

    def remove(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process in it and remove its directories; True when all are gone."""
        return all(remove_dir(d, timeout_s) for d in self.dirs)


def _pids(directory: Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def remove_dir(directory: Path, timeout_s: float = 5.0) -> bool:
    """SIGKILL the processes of the cgroup at ``directory`` and remove it; True when gone."""
    if not directory.exists():
        return True
    kill_file = directory / "cgroup.kill"
    deadline = time.monotonic() + timeout_s
    while True:
        pids = _pids(directory)
        if kill_file.exists() and pids:
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            directory.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            # EBUSY until the killed tasks are reaped; a dying task takes a few ms.
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def create(
    root: CgroupRoot, limit_bytes: int, cpus: float | None = None, owner_pid: int | None = None
) -> MemoryCgroup:
    """Create a drill cgroup with a hard memory limit (no swap) and an optional CPU quota."""
    owner = os.getpid() if owner_pid is None else owner_pid
    n = 0
    while True:
        name = f"{PREFIX}{owner}-{n}"
        if not (root.memory / name).exists():
            break
        n += 1
    mem = root.memory / name
    mem.mkdir()
    cpu_dir: Path | None = None
    try:
        if root.version is CgroupVersion.V2:
            _enable_v2_controllers(root.memory, cpus is not None)
            (mem / "memory.max").write_text(str(limit_bytes))
            # Swap would turn an OOM kill into minutes of thrashing; production has none.
            with contextlib.suppress(OSError):
                (mem / "memory.swap.max").write_text("0")
            if cpus is not None and (mem / "cpu.max").exists():
                (mem / "cpu.max").write_text(f"{int(cpus * _V1_PERIOD_US)} {_V1_PERIOD_US}")
        else:
            (mem / "memory.limit_in_bytes").write_text(str(limit_bytes))
            with contextlib.suppress(OSError):
                (mem / "memory.swappiness").write_text("0")
            if swap_enabled():
                # Only with swap: a memsw limit makes charges fail there, and then
                # memory.failcnt (the thrash signal) stays at 0.
                with contextlib.suppress(OSError):
                    (mem / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
            if cpus is not None and root.cpu is not None:
                cpu_dir = root.cpu / name
                cpu_dir.mkdir(exist_ok=True)
                (cpu_dir / "cpu.cfs_period_us").write_text(str(_V1_PERIOD_US))
                (cpu_dir / "cpu.cfs_quota_us").write_text(str(int(cpus * _V1_PERIOD_US)))
    except OSError:
        remove_dir(mem, 1.0)
        if cpu_dir is not None:
            remove_dir(cpu_dir, 1.0)
        raise
    return MemoryCgroup(name, root.version, mem, cpu_dir)


def swap_enabled(meminfo: Path = Path("/proc/meminfo")) -> bool:
    """True when the machine has swap (``SwapTotal`` above 0 in ``/proc/meminfo``)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("SwapTotal:"):
                return int(line.split()[1]) > 0
    except (OSError, ValueError, IndexError):
        return False
    return False


def _enable_v2_controllers(parent: Path, cpu: bool) -> None:
    control = parent / "cgroup.subtree_control"
    enabled = control.read_text().split()
    for controller in ("memory", "cpu") if cpu else ("memory",):
        if controller not in enabled:
            with contextlib.suppress(OSError):
                control.write_text(f"+{controller}")


def checked_drill_dir(text: str, mount: Path = MOUNT) -> Path:
    """``text`` as a drill cgroup directory; ValueError (the reason) unless it is one.

    A drill cgroup is named ``killproof-drill-<pid>-<n>`` and lies under the cgroup mount,
    named by its real path: absolute, no ``.``/``..``, no symlink anywhere in it.
    """
    if not os.path.isabs(text):
        raise ValueError(f"cgroup {text!r} is not an absolute path")
    if os.path.normpath(text) != text or os.path.realpath(text) != text:
        raise ValueError(f"cgroup {text!r} is not a real path ('..', '.', '//' or a symlink)")
    if _NAME.match(os.path.basename(text)) is None:
        raise ValueError(f"cgroup {text!r} is not named {PREFIX}<pid>-<n>")
    top = os.path.realpath(mount)
    if os.path.commonpath([top, text]) != top:
        raise ValueError(f"cgroup {text!r} is not under {top}")
    return Path(text)


def owner_of(name: str) -> int | None:
    """The owner pid encoded in a drill cgroup's name, or None for other names."""
    m = _NAME.match(name)
    return int(m.group(1)) if m else None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def remove_leftovers(root: CgroupRoot, alive: Callable[[int], bool] = pid_alive) -> list[str]:
    """Remove drill cgroups whose owner process is dead; return the names removed."""
    removed: list[str] = []
    parents = [root.memory] + ([root.cpu] if root.cpu is not None else [])
    for parent in parents:
        try:
            entries = sorted(parent.iterdir())
        except OSError:
            continue
        for entry in entries:
            owner = owner_of(entry.name)
            if owner is None or owner == os.getpid() or alive(owner):
                continue
            if any(pid == 0 or not Path(f"/proc/{pid}").exists() for pid in _pids(entry)):
                # Members we cannot see live in another pid namespace, where the owner
                # pid means another process: not ours to judge.
                continue
            if remove_dir(entry, 5.0):
                removed.append(str(entry))
    return removed
