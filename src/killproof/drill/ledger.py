"""A record on disk of what a drill created, so a later run can clean up after a SIGKILL.

A SIGKILLed drill cannot run its cleanup. Each drill therefore writes one small JSON file
naming its process group, cgroups, systemd scope and container before it starts anything;
the next drill removes whatever a dead owner left behind (and a reaper process, see
:mod:`killproof.drill.reaper`, does it at once when it can).

The record is trusted only as far as its location is: a drill runs as root and acts on
what it reads (SIGKILL, ``rmdir``, ``docker rm``). So the directory is one only root (or
the user) can create — ``/run/killproof`` for root, ``$XDG_RUNTIME_DIR/killproof``
otherwise — and it is refused unless it is a real directory owned by the user with mode
0700; every file in it is reached through the directory's descriptor and written with
``O_CREAT|O_EXCL|O_NOFOLLOW`` under an unpredictable name, then renamed. Even then an entry
is checked before anything is done with it (:func:`problems`): no program named in it is
run, only ``killproof-drill-*`` cgroups under the cgroup mount are touched, and a process
group is killed only when its leader is the process the drill started.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from killproof.config import process_environment
from killproof.drill import cgroup
from killproof.errors import InputError

ENGINES = frozenset({"docker", "podman"})
"""The only container engines a ledger entry may name (run as found on PATH)."""
START_TOLERANCE_S = 1.0
"""Process start times are recorded and read back with this much slack (seconds)."""
MAX_ENTRY_BYTES = 64 << 10
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_UNIT = re.compile(rf"^{cgroup.PREFIX}\d+-\d+$")
_STALE_TMP_S = 60.0
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class LedgerRefused(InputError):
    """The ledger directory is not one only this user controls: nothing in it is trusted."""


def default_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where this user's drills keep their records.

    ``/run/killproof`` for root (only root can create it), ``$XDG_RUNTIME_DIR/killproof``
    for anyone else (the user's own 0700 runtime directory), and only without either a
    per-user directory under the temporary directory, held to the same checks.
    """
    uid = os.geteuid()
    if uid == 0 and Path("/run").is_dir():
        return Path("/run/killproof")
    env = process_environment() if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if uid != 0 and os.path.isabs(runtime) and Path(runtime).is_dir():
        return Path(runtime) / "killproof"
    return Path(tempfile.gettempdir()) / f"killproof-drill-{uid}"


@dataclass(frozen=True)
class Entry:
    """What one drill owns. ``*_start`` are process creation times (seconds since epoch)."""

    owner: int
    owner_start: float
    pgid: int | None = None
    pgid_start: float | None = None
    cgroup_dirs: tuple[str, ...] = ()
    scope: str = ""
    scope_user: bool = False
    container: str = ""
    engine: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """One line of JSON (the file's content, and the reaper's protocol)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Entry:
        """Parse :meth:`to_json`'s output; ValueError or TypeError when it is not one."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("a ledger entry is a JSON object")
        raw["cgroup_dirs"] = tuple(raw.get("cgroup_dirs", ()))
        return cls(**raw)


def start_time(pid: int) -> float | None:
    """The creation time of ``pid`` (seconds since the epoch), None when it is gone."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def own_entry(**fields: object) -> Entry:
    """An entry owned by this process."""
    me = os.getpid()
    return Entry(owner=me, owner_start=start_time(me) or 0.0, **fields)  # type: ignore[arg-type]


def problems(entry: Entry, mount: Path = cgroup.MOUNT) -> list[str]:
    """Why ``entry`` must not be acted on (empty when every field is one a drill writes)."""
    out = _type_problems(entry)
    if out:
        return out
    if entry.owner <= 1:
        out.append(f"owner pid {entry.owner!r} is not a process a drill runs as")
    if entry.pgid is not None and entry.pgid <= 1:
        out.append(f"process group {entry.pgid!r} is not one a drill starts")
    for d in entry.cgroup_dirs:
        try:
            cgroup.checked_drill_dir(str(d), mount)
        except ValueError as exc:
            out.append(str(exc))
    if entry.scope and not (entry.scope.endswith(".scope") and _UNIT.match(entry.scope[:-6])):
        out.append(f"scope {entry.scope!r} is not named {cgroup.PREFIX}<pid>-<n>.scope")
    if entry.container and not _UNIT.match(entry.container):
        out.append(f"container {entry.container!r} is not named {cgroup.PREFIX}<pid>-<n>")
    if entry.engine and entry.engine not in ENGINES:
        out.append(f"engine {entry.engine!r} is not one of {', '.join(sorted(ENGINES))}")
    if bool(entry.container) != bool(entry.engine):
        out.append("a container needs its engine, and an engine its container")
    return out


def _type_problems(entry: Entry) -> list[str]:
    def number(v: object) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    ok = (
        isinstance(entry.owner, int)
        and number(entry.owner_start)
        and (entry.pgid is None or isinstance(entry.pgid, int))
        and (entry.pgid_start is None or number(entry.pgid_start))
        and all(isinstance(d, str) for d in entry.cgroup_dirs)
        and all(isinstance(v, str) for v in (entry.scope, entry.container, entry.engine))
        and isinstance(entry.scope_user, bool)
    )
    return [] if ok else ["a field has the wrong type"]


def _members(pgid: int) -> list[psutil.Process]:
    out: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                out.append(proc)
        except OSError:
            continue
    return out


def kill_group(pgid: int, started: float | None, wait_s: float = 2.0) -> list[int]:
    """SIGKILL the members of process group ``pgid`` that are the drill's own; return them.

    ``started`` is the creation time of the group's leader when the drill started it. A
    group is the drill's only when that is known and, if the leader (pid ``pgid``) still
    runs, its creation time is the recorded one: a leader with another start time is a
    recycled pid that formed a group of its own. Members created before ``started`` never
    belonged to the drill's group either. (While any member of a group lives, the kernel
    does not hand its pgid out again, so a leaderless group of young members is ours.)
    Waits up to ``wait_s`` for the killed processes to go (a port is free only then).
    """
    if started is None or pgid <= 1 or pgid == os.getpgid(0):
        return []
    leader = start_time(pgid)
    if leader is not None and abs(leader - started) > START_TOLERANCE_S:
        return []
    killed: list[int] = []
    for proc in _members(pgid):
        created = proc.info.get("create_time")
        if created is None or created + START_TOLERANCE_S < started:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(proc.pid)
    deadline = time.monotonic() + wait_s
    while any(cgroup.pid_alive(p) for p in killed) and time.monotonic() < deadline:
        time.sleep(0.01)
    return killed


def release(entry: Entry, mount: Path = cgroup.MOUNT) -> list[str]:
    """Kill and remove everything ``entry`` names (idempotent); return why it was refused.

    Nothing is done for an entry with any :func:`problems`. Programs run are found on PATH
    by their fixed names (``systemctl``, ``docker``, ``podman``), never taken from the entry.
    """
    refused = problems(entry, mount)
    if refused:
        return refused
    if entry.pgid is not None:
        kill_group(entry.pgid, entry.pgid_start)
    if entry.scope:
        stop_scope(entry.scope, entry.scope_user)
    if entry.container:
        remove_container(entry.engine, entry.container)
    for d in entry.cgroup_dirs:
        cgroup.remove_dir(Path(d))
    return []


def stop_scope(scope: str, user: bool) -> None:
    """``systemctl [--user] kill -s KILL -- SCOPE`` (systemctl as found on PATH)."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run([systemctl, *(["--user"] if user else []), "kill", "-s", "KILL", "--", scope],
                       capture_output=True, timeout=10, check=False)  # fmt: skip


def remove_container(engine: str, container: str) -> None:
    """``ENGINE rm -f -- CONTAINER`` for ``docker`` or ``podman`` only, as found on PATH."""
    program = shutil.which(engine) if engine in ENGINES else None
    if program is None:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run([program, "rm", "-f", "--", container],
                       capture_output=True, timeout=30, check=False)  # fmt: skip


class Ledger:
    """An opened, checked ledger directory; every file is reached through its descriptor.

    Opening creates the directory (mode 0700) when missing and raises
    :class:`LedgerRefused` unless it is a real directory (not a symlink) owned by this
    user with mode exactly 0700. Use as a context manager, or :meth:`close` it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = _open_checked(path)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the directory's descriptor (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def write(self, key: str, entry: Entry) -> None:
        """Write (or replace) the record ``key`` atomically: a new file under a random
        name, created exclusively and never through a symlink, then renamed over."""
        _check_key(key)
        tmp = f".{key}.{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600, dir_fd=self._fd)
        try:
            os.write(fd, entry.to_json().encode())
        finally:
            os.close(fd)
        os.rename(tmp, f"{key}.json", src_dir_fd=self._fd, dst_dir_fd=self._fd)

    def remove(self, key: str) -> None:
        """Delete the record ``key`` if it is there."""
        _check_key(key)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{key}.json", dir_fd=self._fd)

    def entries(self) -> Iterator[tuple[str, Entry | None]]:
        """(file name, entry or None when unreadable) for every record, sorted by name;
        stale temporary files of a writer killed mid-write are removed on the way."""
        now = time.time()
        for name in sorted(os.listdir(self._fd)):
            if name.startswith(".") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    if now - os.stat(name, dir_fd=self._fd, follow_symlinks=False).st_mtime > (
                        _STALE_TMP_S
                    ):
                        os.unlink(name, dir_fd=self._fd)
                continue
            if name.endswith(".json"):
                yield name, self._read(name)

    def _read(self, name: str) -> Entry | None:
        try:
            fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self._fd)  # fmt: skip
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                return None
            data = os.read(fd, MAX_ENTRY_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) > MAX_ENTRY_BYTES:
            return None
        try:
            return Entry.from_json(data)
        except (ValueError, TypeError):
            return None

    def unlink(self, name: str) -> None:
        """Delete the file ``name`` (never follows a symlink: unlink removes the link)."""
        if "/" in name or name in {"", ".", ".."}:
            raise ValueError(f"not a file name: {name!r}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._fd)


def _check_key(key: str) -> None:
    if _KEY.match(key) is None:
        raise ValueError(f"ledger key {key!r} is not a plain name")


def _open_checked(path: Path) -> int:
    """Create ``path`` (0700) if missing; open it and check owner, type and mode."""
    created = False
    try:
        os.mkdir(path, 0o700)
        created = True
    except FileExistsError:
        pass
    except OSError as exc:
        raise LedgerRefused(f"cannot create the drill ledger: {exc.strerror}", str(path)) from exc
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        bad_type = exc.errno in (errno.ELOOP, errno.ENOTDIR)
        why = "a symlink or not a directory" if bad_type else exc.strerror
        raise LedgerRefused(f"drill ledger refused: {why}", str(path)) from exc
    try:
        st = os.fstat(fd)
        if created and st.st_uid == os.geteuid():
            os.fchmod(fd, 0o700)  # the umask may have taken bits away
            st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != os.geteuid():
            raise LedgerRefused(
                f"drill ledger refused: owned by uid {st.st_uid}, not {os.geteuid()} "
                "(someone else created it: remove it)",
                str(path),
            )
        if mode != 0o700:
            raise LedgerRefused(
                f"drill ledger refused: mode {mode:04o}, not 0700 (others could plant "
                "records in it: remove it)",
                str(path),
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def owner_dead(entry: Entry) -> bool:
    """True when the drill that wrote ``entry`` is gone (its pid dead or recycled)."""
    if not cgroup.pid_alive(entry.owner):
        return True
    start = start_time(entry.owner)
    # A recycled pid belongs to a younger process.
    return start is not None and abs(start - entry.owner_start) > START_TOLERANCE_S


@dataclass(frozen=True)
class Sweep:
    """What a sweep did: ``cleaned`` (what dead drills left, now removed) and ``refused``
    (records not acted on, each with its reason; they are deleted)."""

    cleaned: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def sweep_open(ledger: Ledger, mount: Path = cgroup.MOUNT) -> Sweep:
    """Release every record in ``ledger`` whose owner is dead."""
    cleaned: list[str] = []
    refused: list[str] = []
    for name, entry in ledger.entries():
        if entry is None:
            refused.append(f"{name}: not a readable ledger record")
            ledger.unlink(name)
            continue
        if not owner_dead(entry):
            continue
        reasons = release(entry, mount)
        ledger.unlink(name)
        if reasons:
            refused.append(f"{name}: {'; '.join(reasons)}")
        else:
            cleaned.append(f"drill of pid {entry.owner} ({name})")
    return Sweep(tuple(cleaned), tuple(refused))


def sweep(directory: Path | None = None, mount: Path = cgroup.MOUNT) -> Sweep:
    """Open the ledger (refusing one others could write: :class:`LedgerRefused`) and
    release every record whose owner is dead. A missing directory is an empty ledger."""
    directory = directory or default_dir()
    if not os.path.lexists(directory):
        return Sweep()
    with Ledger(directory) as ledger:
        return sweep_open(ledger, mount)


def write(directory: Path, key: str, entry: Entry) -> None:
    """Open the ledger at ``directory`` and write the record ``key`` (see :class:`Ledger`)."""
    with Ledger(directory) as ledger:
        ledger.write(key, entry)
