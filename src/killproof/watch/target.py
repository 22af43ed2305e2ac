"""What the watcher watches: a pid, a cgroup, a process name, or a command it starts.

The only module of ``watch`` that finds and starts processes. Memory comes from the drill's
readers (``psutil`` RSS, :func:`killproof.drill.cgroup.read_memory` for v1 and v2); the
memory cgroup of a pid from ``why``'s :func:`~killproof.sources.cgroupfs.cgroup_dir_of_pid`.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from killproof.drill.cgroup import CgroupVersion, MemoryState, read_memory
from killproof.errors import InputError
from killproof.facts.drill import Exit
from killproof.sources.cgroupfs import cgroup_dir_of_pid


@dataclass(frozen=True)
class TargetSpec:
    """Exactly one of ``pid``, ``cgroup``, ``name`` or ``command``."""

    pid: int | None = None
    cgroup: Path | None = None
    name: str | None = None
    command: tuple[str, ...] = ()

    def describe(self) -> str:
        """``pid 42``, ``cgroup /sys/fs/cgroup/x``, ``name orders`` or the command."""
        if self.pid is not None:
            return f"pid {self.pid}"
        if self.cgroup is not None:
            return f"cgroup {self.cgroup}"
        if self.name is not None:
            return f"name {self.name}"
        return " ".join(self.command)


def cgroup_version(directory: Path) -> CgroupVersion | None:
    """v2 when ``memory.current`` is there, v1 for ``memory.usage_in_bytes``, else None."""
    if (directory / "memory.current").exists():
        return CgroupVersion.V2
    if (directory / "memory.usage_in_bytes").exists():
        return CgroupVersion.V1
    return None


class Target:
    """One attached process (and its memory cgroup when it has one)."""

    def __init__(
        self,
        pid: int,
        cgroup_dir: Path | None,
        child: subprocess.Popen[bytes] | None = None,
        label: str = "",
    ) -> None:
        self.pid = pid
        self.child = child
        self.cgroup_dir = cgroup_dir
        self.version = cgroup_version(cgroup_dir) if cgroup_dir is not None else None
        try:
            proc = psutil.Process(pid)
            self.command = tuple(proc.cmdline()) or (proc.name(),)
            self.started = proc.create_time()
        except psutil.Error as exc:
            raise InputError(f"no such process: {pid} ({exc})") from exc
        self._fixed_label = bool(label)
        self.label = label or Path(self.command[0]).name or str(pid)
        self.attached_at = time.monotonic()
        self._follow_cgroup = True

    def refresh(self) -> bool:
        """Follow the process if it moved to another memory cgroup or exec'd another program
        (``sh -c 'echo $$ > …/cgroup.procs; exec svc'``); True when its cgroup changed."""
        with contextlib.suppress(psutil.Error):
            command = tuple(psutil.Process(self.pid).cmdline())
            if command and command != self.command:
                self.command = command
                if not self._fixed_label:
                    self.label = Path(command[0]).name or self.label
        if not self._follow_cgroup:
            return False
        now = _cgroup_of(self.pid)
        if now is None or now == self.cgroup_dir:
            return False
        self.cgroup_dir, self.version = now, cgroup_version(now)
        return True

    def memory_state(self) -> MemoryState | None:
        """The memory cgroup's reading (None without a cgroup the watcher can read)."""
        if self.cgroup_dir is None or self.version is None:
            return None
        return read_memory(self.cgroup_dir, self.version)

    def alive(self) -> bool:
        """True while the process runs (a zombie counts as dead)."""
        if self.child is not None:
            return self.child.poll() is None
        try:
            proc = psutil.Process(self.pid)
            return proc.create_time() == self.started and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def exit(self) -> Exit | None:
        """How it ended, when the watcher can know (its own child); None otherwise."""
        if self.child is None or self.child.returncode is None:
            return None
        t = time.monotonic() - self.attached_at
        code = self.child.returncode
        if code < 0:
            return Exit(t, signal=signal.Signals(-code).name)
        return Exit(t, code=code)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the command the watcher started (never a process it only attached to)."""
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()
        try:
            self.child.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()


def attach(spec: TargetSpec, wait_s: float = 0.0) -> Target:
    """Find (or start) the target; raise :class:`InputError` when it cannot be found.

    ``wait_s`` is how long to wait for a ``--name`` process to appear (re-attaching after a
    restart).
    """
    if spec.command:
        try:
            child = subprocess.Popen(spec.command)
        except OSError as exc:
            raise InputError(f"cannot start {spec.command[0]}: {exc}") from exc
        return Target(child.pid, _cgroup_of(child.pid), child=child)
    if spec.pid is not None:
        return Target(spec.pid, _cgroup_of(spec.pid))
    if spec.cgroup is not None:
        directory = spec.cgroup
        if cgroup_version(directory) is None:
            raise InputError(f"{directory} is not a memory cgroup (no memory.current or "
                             "memory.usage_in_bytes)")  # fmt: skip
        pid = _biggest(_cgroup_pids(directory))
        if pid is None:
            raise InputError(f"no process in the cgroup {directory}")
        target = Target(pid, directory, label=directory.name)
        target._follow_cgroup = False  # the cgroup is what was asked for
        return target
    assert spec.name is not None
    deadline = time.monotonic() + wait_s
    while True:
        pid = find_by_name(spec.name)
        if pid is not None:
            return Target(pid, _cgroup_of(pid), label=spec.name)
        if time.monotonic() >= deadline:
            raise InputError(f"no process named {spec.name}")
        time.sleep(0.2)


def listening_ports(pid: int) -> list[int]:
    """TCP ports ``pid`` listens on at a loopback or wildcard address, lowest first."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return []
    local = ("127.0.0.1", "::1", "0.0.0.0", "::")
    return sorted({c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN
                   and c.laddr and c.laddr.ip in local})  # fmt: skip


def find_by_name(name: str) -> int | None:
    """The oldest process whose name (or executable's base name) is ``name``."""
    found: list[tuple[float, int]] = []
    for proc in psutil.process_iter(["name", "exe", "create_time"]):
        info = proc.info
        exe = Path(info.get("exe") or "").name
        if name in (info.get("name"), exe):
            found.append((info.get("create_time") or 0.0, proc.pid))
    return min(found)[1] if found else None


def _cgroup_of(pid: int) -> Path | None:
    """The pid's memory cgroup, unless it is the hierarchy's root (the whole machine)."""
    with contextlib.suppress(InputError, OSError):
        directory, _ = cgroup_dir_of_pid(pid)
        version = cgroup_version(directory)
        if version is None:
            return None  # includes v2's root, which has no memory.current
        if version is CgroupVersion.V1 and cgroup_version(directory.parent) is None:
            return None  # v1's root: its usage is the whole machine's
        return directory
    return None


def _cgroup_pids(directory: Path) -> list[int]:
    try:
        return [int(x) for x in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _biggest(pids: list[int]) -> int | None:
    """The pid with the largest RSS (the service, not a shell or a sidecar in its cgroup)."""
    best: tuple[int, int] | None = None
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            rss = psutil.Process(pid).memory_info().rss
            if best is None or rss > best[0]:
                best = (rss, pid)
    return best[1] if best else None
