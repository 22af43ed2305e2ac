"""A record on disk of what a drill created, so a later run can clean up after a SIGKILL.

A SIGKILLed drill cannot run its cleanup. Each drill therefore writes one small JSON file
naming its process group, cgroups, systemd scope and container before it starts anything;
the next drill removes whatever a dead owner left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from killproof.drill import cgroup


def default_dir() -> Path:
    """``$TMPDIR/killproof-drill-<uid>``: private to the user running drills."""
    return Path(tempfile.gettempdir()) / f"killproof-drill-{os.getuid()}"


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


def start_time(pid: int) -> float | None:
    """The creation time of ``pid`` (seconds since the epoch), None when it is gone."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def write(directory: Path, key: str, entry: Entry) -> Path:
    """Write (or replace) the record ``key`` atomically."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{key}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(entry)))
    tmp.replace(path)
    return path


def own_entry(**fields: object) -> Entry:
    """An entry owned by this process."""
    me = os.getpid()
    return Entry(owner=me, owner_start=start_time(me) or 0.0, **fields)  # type: ignore[arg-type]


def _owner_dead(entry: Entry) -> bool:
    if not cgroup.pid_alive(entry.owner):
        return True
    start = start_time(entry.owner)
    # A recycled pid belongs to a younger process.
    return start is not None and abs(start - entry.owner_start) > 1.0


def kill_group(pgid: int, started: float | None) -> None:
    """SIGKILL the process group ``pgid`` if its members are not younger than ``started``."""
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
        except OSError:
            continue
        created = proc.info.get("create_time")
        if started is not None and created is not None and created + 1.0 < started:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)


def release(entry: Entry) -> None:
    """Kill and remove everything ``entry`` names (idempotent)."""
    if entry.pgid is not None:
        kill_group(entry.pgid, entry.pgid_start)
    if entry.scope:
        cmd = ["systemctl", *(["--user"] if entry.scope_user else []), "kill", "-s", "KILL"]
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([*cmd, entry.scope], capture_output=True, timeout=10, check=False)
    if entry.container and entry.engine:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [entry.engine, "rm", "-f", entry.container],
                capture_output=True,
                timeout=30,
                check=False,
            )
    for d in entry.cgroup_dirs:
        cgroup.remove_dir(Path(d))


def sweep(directory: Path | None = None) -> list[str]:
    """Release every record whose owner is dead; return what was cleaned (for the report)."""
    directory = directory or default_dir()
    cleaned: list[str] = []
    if not directory.is_dir():
        return cleaned
    for path in sorted(directory.glob("*.json")):
        try:
            raw = json.loads(path.read_text())
            raw["cgroup_dirs"] = tuple(raw.get("cgroup_dirs", ()))
            entry = Entry(**raw)
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if not _owner_dead(entry):
            continue
        release(entry)
        path.unlink(missing_ok=True)
        cleaned.append(f"drill of pid {entry.owner} ({path.name})")
    return cleaned
