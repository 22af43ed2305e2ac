"""Run the service under a real memory limit, and remove everything when the drill ends.

Order of preference for ``SandboxChoice.AUTO``: a cgroup (v2, else v1) when writable,
``systemd-run --scope -p MemoryMax=`` when systemd runs, else an RSS watchdog that
emulates the limit (the report says so). Docker and Podman only when asked.

Cleanup is layered because any single layer can be skipped: :meth:`Sandbox.close` in a
``finally``; an ``atexit`` hook for crashes and a SIGTERM/SIGHUP handler that turns the signal
into an exception (both in :mod:`killproof.drill.interrupts`); for a SIGKILL of killproof,
``PR_SET_PDEATHSIG`` on the service and a reaper process that removes its cgroup, scope or
container (:mod:`killproof.drill.reaper`); and a ledger on disk
(:mod:`killproof.drill.ledger`) so the next drill removes what a SIGKILLed drill and
reaper left. The service is started through a launcher, never a shell.

Units: bytes, seconds (monotonic clock).
"""

from __future__ import annotations

import contextlib
import enum
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from killproof.drill import cgroup, interrupts, ledger
from killproof.drill.cgroup import MemoryCgroup, MemoryState
from killproof.drill.reaper import Reaper, launch_argv
from killproof.drill.watchdog import RssWatchdog, wait_for
from killproof.errors import InputError
from killproof.facts.drill import Exit, SandboxKind


class SandboxChoice(enum.Enum):
    """What the user asked for with ``--sandbox``."""

    AUTO = "auto"
    CGROUP = "cgroup"
    SYSTEMD = "systemd"
    DOCKER = "docker"
    PODMAN = "podman"
    WATCHDOG = "watchdog"


@dataclass(frozen=True)
class SandboxSpec:
    """How to run the service: the command, its limit (bytes), CPUs and environment."""

    command: tuple[str, ...]
    memory_bytes: int
    cpus: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """The drill's variables (PORT, GOMEMLIMIT, GOGC, GOMAXPROCS …), over ``base_env``."""
    base_env: Mapping[str, str] = field(default_factory=dict)
    """What the service inherits (the CLI passes killproof's own environment)."""
    choice: SandboxChoice = SandboxChoice.AUTO
    workdir: Path | None = None
    output_dir: Path = Path(".")
    """Where the service's stdout/stderr files are written."""


_SEQ = iter(range(1 << 30))


def _on_main_thread() -> bool:
    # PDEATHSIG follows the forking thread: only the main thread lives as long as killproof
    # (from any other, the reaper alone covers a kill -9).
    return threading.current_thread() is threading.main_thread()


def systemd_available() -> bool:
    """True when ``systemd-run`` exists and systemd is the init system."""
    return shutil.which("systemd-run") is not None and Path("/run/systemd/system").is_dir()


def resolve_kind(choice: SandboxChoice, root: cgroup.CgroupRoot | None) -> SandboxKind:
    """The sandbox a choice leads to on this machine; InputError when it cannot run."""
    if choice is SandboxChoice.WATCHDOG:
        return SandboxKind.WATCHDOG
    if choice in (SandboxChoice.DOCKER, SandboxChoice.PODMAN):
        engine = choice.value
        if shutil.which(engine) is None:
            raise InputError(f"--sandbox {engine}: '{engine}' is not installed")
        try:
            alive = subprocess.run([engine, "info"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            alive = None
        if alive is None or alive.returncode != 0:
            raise InputError(f"--sandbox {engine}: '{engine} info' fails (is the daemon running?)")
        return SandboxKind.DOCKER if choice is SandboxChoice.DOCKER else SandboxKind.PODMAN
    if root is not None:
        return (
            SandboxKind.CGROUP_V2
            if root.version is cgroup.CgroupVersion.V2
            else (SandboxKind.CGROUP_V1)
        )
    if choice is SandboxChoice.CGROUP:
        raise InputError("--sandbox cgroup: no writable memory cgroup (run as root)")
    if systemd_available():
        return SandboxKind.SYSTEMD_SCOPE
    if choice is SandboxChoice.SYSTEMD:
        raise InputError("--sandbox systemd: systemd-run is not usable here")
    return SandboxKind.WATCHDOG


def sweep_leftovers(records: ledger.Ledger | Path, root: cgroup.CgroupRoot | None) -> ledger.Sweep:
    """Remove what dead drills left: the ledger's records (``records``, open or a
    directory) whose owner is dead, and ``killproof-drill-*`` cgroups under ``root`` whose
    owner pid is dead. Raises :class:`~killproof.drill.ledger.LedgerRefused` for a ledger
    directory others could write."""
    done = (
        ledger.sweep_open(records) if isinstance(records, ledger.Ledger) else ledger.sweep(records)
    )
    removed = cgroup.remove_leftovers(root) if root is not None else []
    return ledger.Sweep((*done.cleaned, *removed), done.refused)


def _check_runnable(spec: SandboxSpec) -> None:
    """InputError unless the command names an executable file (as ``execvp`` will look
    for it: relative to the working directory with a ``/``, else on the service's PATH)."""
    first = spec.command[0]
    if "/" in first:
        path = Path(spec.workdir or ".") / first
        found = path.is_file() and os.access(path, os.X_OK)
    else:
        env = {**spec.base_env, **spec.env}
        found = shutil.which(first, path=env.get("PATH", os.defpath)) is not None
    if not found:
        raise InputError(f"cannot start {first}: no such executable file")


class Sandbox:
    """One running service under a memory limit. Use as a context manager."""

    def __init__(self, spec: SandboxSpec, root: cgroup.CgroupRoot | None = None) -> None:
        self.spec = spec
        self.root = root if root is not None else cgroup.find_root()
        if not spec.command or spec.command[0].startswith("-"):
            # sh's exec, systemd-run and docker run would read it as an option.
            first = spec.command[0] if spec.command else ""
            raise InputError(f"command {first!r} must not be empty or begin with '-' (./{first})")
        self.kind = resolve_kind(spec.choice, self.root)
        if self.kind not in (SandboxKind.DOCKER, SandboxKind.PODMAN):
            _check_runnable(spec)
        self.cgroup: MemoryCgroup | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.stdout_path = spec.output_dir / "service.stdout"
        self.stderr_path = spec.output_dir / "service.stderr"
        self.cleaned_leftovers: list[str] = []
        """What dead drills left and this one removed (for the report)."""
        self.refused_records: list[str] = []
        """Ledger records not acted on, each with its reason (for the report)."""
        self._key = f"{os.getpid()}-{next(_SEQ)}"
        self._ledger_dir = ledger.default_dir(spec.base_env)
        self._ledger: ledger.Ledger | None = None
        self._reaper: Reaper | None = None
        self._container = ""
        self._watchdog: RssWatchdog | None = None
        self._scope_dir: Path | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        try:
            self.start()
        except BaseException:
            self.close()  # a half-started sandbox still owns a cgroup and maybe a process
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Clean leftovers of dead drills, start the reaper, then start the command under
        the limit (it dies with killproof: see :mod:`killproof.drill.reaper`)."""
        self._ledger = ledger.Ledger(self._ledger_dir)
        done = sweep_leftovers(self._ledger, self.root)
        self.cleaned_leftovers = list(done.cleaned)
        self.refused_records = list(done.refused)
        interrupts.register(self)
        self._reaper = Reaper.start(self._ledger_dir, self._key, self.spec.base_env)
        argv = list(self.spec.command)
        join: tuple[Path, ...] = ()
        if self.kind in (SandboxKind.CGROUP_V1, SandboxKind.CGROUP_V2):
            assert self.root is not None
            self.cgroup = cgroup.create(self.root, self.spec.memory_bytes, self.spec.cpus)
            self._record()
            join = self.cgroup.procs_files()
        elif self.kind is SandboxKind.SYSTEMD_SCOPE:
            argv = self._systemd_argv(argv)
        elif self.kind in (SandboxKind.DOCKER, SandboxKind.PODMAN):
            argv = self._container_argv(argv)
        argv = launch_argv(argv, join, die_with_parent=_on_main_thread())
        self.spec.output_dir.mkdir(parents=True, exist_ok=True)
        env = {**self.spec.base_env, **self.spec.env}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            try:
                self.proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=env,
                    cwd=self.spec.workdir,
                    start_new_session=True,
                )
            except OSError as exc:
                self.close()
                raise InputError(f"cannot start {self.spec.command[0]}: {exc.strerror}") from exc
        self.started_at = time.monotonic()
        self._record()
        if self.cgroup is not None:
            self._await_join(self.cgroup)
        if self.kind is SandboxKind.WATCHDOG:
            self._watchdog = RssWatchdog(self.proc.pid, self.spec.memory_bytes, self.elapsed)
            self._watchdog.start()

    def _await_join(self, group: MemoryCgroup) -> None:
        """Return once the child has joined the cgroup (it does so before exec)."""
        proc = self.proc
        assert proc is not None
        if not wait_for(lambda: proc.pid in group.pids() or proc.poll() is not None, 2.0):
            raise InputError(f"the service did not join cgroup {group.memory_dir}")

    def _record(self) -> None:
        pgid = self.proc.pid if self.proc is not None else None
        entry = ledger.own_entry(
            pgid=pgid,
            pgid_start=ledger.start_time(pgid) if pgid else None,
            cgroup_dirs=tuple(str(d) for d in self.cgroup.dirs) if self.cgroup else (),
            scope=f"{self._unit()}.scope" if self.kind is SandboxKind.SYSTEMD_SCOPE else "",
            scope_user=os.geteuid() != 0,
            container=self._container,
            engine=self.kind.value if self._container else "",
        )
        if self._ledger is not None:
            self._ledger.write(self._key, entry)
        if self._reaper is not None:
            self._reaper.update(entry)

    def _unit(self) -> str:
        return f"{cgroup.PREFIX}{self._key}"

    def _systemd_argv(self, argv: list[str]) -> list[str]:
        props = [f"MemoryMax={self.spec.memory_bytes}", "MemorySwapMax=0"]
        if self.spec.cpus is not None:
            props.append(f"CPUQuota={int(self.spec.cpus * 100)}%")
        user = ["--user"] if os.geteuid() != 0 else []
        flags = [a for p in props for a in ("-p", p)]
        return ["systemd-run", *user, "--scope", "--quiet", f"--unit={self._unit()}", *flags,
                "--", *argv]  # fmt: skip

    def _container_argv(self, argv: list[str]) -> list[str]:
        # CMD[0] is the image; the service shares the host network so loopback load works.
        self._container = self._unit()
        self._record()
        limit = str(self.spec.memory_bytes)
        cmd = [self.kind.value, "run", "--name", self._container, "--network", "host",
               "--memory", limit, "--memory-swap", limit]  # fmt: skip
        if self.spec.cpus is not None:
            cmd += ["--cpus", str(self.spec.cpus)]
        for key, value in self.spec.env.items():
            cmd += ["-e", f"{key}={value}"]
        return [*cmd, *argv]

    def close(self) -> None:
        """Kill the service and everything it started; remove cgroups, scope, container."""
        if self._closed:
            return
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.stop()
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.kind is SandboxKind.SYSTEMD_SCOPE:
            ledger.stop_scope(f"{self._unit()}.scope", user=os.geteuid() != 0)
        if self._container:
            ledger.remove_container(self.kind.value, self._container)
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self._ledger is not None:
            self._ledger.remove(self._key)
            self._ledger.close()
        if self._reaper is not None:
            self._reaper.finish()
        interrupts.unregister(self)

    # -- observation -------------------------------------------------------------------
    @property
    def watchdog_kill(self) -> tuple[float, int] | None:
        """(seconds since start, RSS bytes) when the watchdog killed the service."""
        return self._watchdog.kill if self._watchdog is not None else None

    @property
    def pid(self) -> int:
        """The pid of the started process (the service itself for cgroup/watchdog)."""
        if self.proc is None:
            raise RuntimeError("sandbox not started")
        return self.proc.pid

    def service_pid(self) -> int | None:
        """The service's pid for RSS sampling (inside the container for docker/podman)."""
        if self.kind not in (SandboxKind.DOCKER, SandboxKind.PODMAN):
            return self.pid
        out = subprocess.run(
            [self.kind.value, "inspect", "-f", "{{.State.Pid}}", self._container],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        value = out.stdout.strip()
        return int(value) if value.isdigit() and value != "0" else None

    def elapsed(self) -> float:
        """Seconds since the service started."""
        return time.monotonic() - self.started_at

    def poll(self) -> Exit | None:
        """How the process ended, or None while it runs."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        return None if code is None else _exit_of(code, self.elapsed(), self._container != "")

    def wait(self, timeout_s: float) -> Exit | None:
        """Wait up to ``timeout_s`` for the process to end."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        return _exit_of(code, self.elapsed(), self._container != "")

    def send(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the service only (as a kubelet signals PID 1)."""
        if self.kind in (SandboxKind.DOCKER, SandboxKind.PODMAN):
            subprocess.run([self.kind.value, "kill", "-s", sig.name, self._container],
                           capture_output=True, timeout=10, check=False)  # fmt: skip
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def memory_state(self) -> MemoryState | None:
        """The cgroup's counters (None without a cgroup). For a systemd scope, the scope's
        own cgroup, found once from ``/proc/PID/cgroup``."""
        if self.cgroup is not None:
            return self.cgroup.read()
        if self.kind is SandboxKind.SYSTEMD_SCOPE and self.proc is not None:
            if self._scope_dir is None:
                self._scope_dir = scope_dir(self.proc.pid, f"{self._unit()}.scope")
            if self._scope_dir is not None:
                return cgroup.read_memory(self._scope_dir, cgroup.CgroupVersion.V2)
        return None

    def container_oom_killed(self) -> bool | None:
        """Docker/Podman's ``State.OOMKilled`` for the container (None when not a container)."""
        if not self._container:
            return None
        out = subprocess.run(
            [self.kind.value, "inspect", "-f", "{{.State.OOMKilled}}", self._container],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        return out.stdout.strip() == "true"

    def stderr_text(self) -> str:
        """Everything the service wrote to stderr so far."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""


def scope_dir(pid: int, unit: str) -> Path | None:
    """The cgroup v2 directory of ``pid`` when it is inside ``unit`` (a systemd scope)."""
    try:
        return scope_dir_of(Path(f"/proc/{pid}/cgroup").read_text(), unit)
    except OSError:
        return None


def scope_dir_of(proc_cgroup: str, unit: str, base: Path = Path("/sys/fs/cgroup")) -> Path | None:
    """The unified-hierarchy directory in a ``/proc/PID/cgroup`` text, if it is ``unit``'s."""
    for line in proc_cgroup.splitlines():
        hierarchy, _, rel = line.partition("::")
        if hierarchy == "0" and rel.rstrip("/").endswith(unit):
            return base / rel.lstrip("/")
    return None


def _exit_of(code: int, t_s: float, shell_style: bool = False) -> Exit:
    if code < 0:
        return Exit(t_s=t_s, signal=signal.Signals(-code).name)
    if shell_style and code > 128 and code - 128 in {s.value for s in signal.Signals}:
        # A shell or container runtime reports "killed by N" as 128+N.
        return Exit(t_s=t_s, code=code, signal=signal.Signals(code - 128).name)
    return Exit(t_s=t_s, code=code)


def format_argv(argv: Sequence[str]) -> str:
    """A command line for humans."""
    return " ".join(argv)
