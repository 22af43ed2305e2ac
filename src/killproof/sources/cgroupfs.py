"""A live memory cgroup's counters (v1 and v2) → :class:`CgroupMemory` and a kill event.

The counters outlive the logs: ``oom_kill`` in ``memory.oom_control`` (v1) or
``memory.events`` (v2) counts processes of the cgroup (and its descendants) that the kernel
OOM killer killed. It names no pid. It also counts kills made for a limit *above* this
cgroup or for the whole machine, so the scope is only proven when this cgroup's own limit
was hit too: ``oom`` > 0 in v2 ``memory.events``; in v1, ``failcnt`` > 0 or a peak usage
(``memory.max_usage_in_bytes``) that reached the limit. (A 6.x kernel left v1
``memory.failcnt`` at 0 through a real limit OOM in our test, so failcnt alone is not
enough.) Without that the event says KERNEL_OOM_UNKNOWN_SCOPE.
"""

from __future__ import annotations

import enum
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from killproof.errors import InputError
from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence, counted

# The kernel charges memory in batches of 64 pages: a peak this close to the limit means the
# limit was reached (bytes).
_AT_LIMIT_SLACK = 64 * 4096
# v1 prints PAGE_COUNTER_MAX pages as bytes when there is no limit; anything this large
# is "unlimited" (no machine has 2**62 bytes).
_V1_UNLIMITED = 2**62


_DIGITS = re.compile(r"[0-9]{1,20}")  # a 64-bit counter; longer is not a counter
_MAX_FILE_BYTES = 64 << 10
"""A cgroup or /proc file is small; at most this much of one is read (bytes)."""


class CgroupVersion(enum.Enum):
    """Which cgroup hierarchy the files came from."""

    V1 = "v1"
    V2 = "v2"


@dataclass(frozen=True)
class CgroupMemory:
    """One read of a memory cgroup's files. Sizes in bytes; None when a file is missing.

    ``limit_bytes`` None means no limit. ``limit_hits`` is v1 ``memory.failcnt`` or v2
    ``memory.events`` ``max``; ``oom`` is v2 ``oom`` (times the limit led to an OOM) and
    None on v1; ``under_oom`` is v1 only.
    """

    path: str
    version: CgroupVersion
    limit_bytes: int | None = None
    usage_bytes: int | None = None
    peak_bytes: int | None = None
    oom_kill: int | None = None
    oom: int | None = None
    limit_hits: int | None = None
    under_oom: bool | None = None
    hierarchy_path: str | None = None
    """The cgroup's path inside its hierarchy, as the kernel prints it (``/kubepods/…``)."""


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.events, memory.oom_control) → dict; bad lines skipped."""
    out: dict[str, int] = {}
    for raw in text.splitlines():
        parts = raw.split()
        if len(parts) == 2 and _DIGITS.fullmatch(parts[1].removeprefix("-")):
            out[parts[0]] = int(parts[1])
    return out


def parse_limit(text: str, version: CgroupVersion) -> int | None:
    """A limit file's content in bytes; None for "max"/unlimited or unreadable content."""
    value = text.strip()
    if value == "max" or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    if version is CgroupVersion.V1 and number >= _V1_UNLIMITED:
        return None
    return number


def parse_proc_cgroup(text: str) -> tuple[str | None, str | None]:
    """``/proc/PID/cgroup`` → (v1 memory path, v2 unified path); either may be None."""
    v1: str | None = None
    v2: str | None = None
    for raw in text.splitlines():
        parts = raw.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not path.startswith("/"):
            continue
        if controllers == "" and parts[0] == "0":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v1, v2


def _read(directory: Path, name: str) -> str | None:
    """The text of a small kernel file, or None when it is missing, unreadable (EIO, EINVAL…)
    or not a regular file (a FIFO or a device planted where a counter should be)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat refuses it
        fd = os.open(directory / name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return handle.read(_MAX_FILE_BYTES).decode("utf-8", "replace")
        except OSError:
            return None


def _int(text: str | None) -> int | None:
    value = (text or "").strip()
    return int(value) if _DIGITS.fullmatch(value) else None


def hierarchy_path_of(directory: Path, proc: Path = Path("/proc")) -> str | None:
    """The path the kernel prints for a cgroup directory (``/kubepods/pod-demo``): its place
    under the mounted v1 memory or v2 hierarchy, or None when it is under neither."""
    target = directory.resolve()
    for mount in _mounts(_read(proc / "self", "mountinfo") or ""):
        if mount is None:
            continue
        root, point = mount
        if target == Path(point) or Path(point) in target.parents:
            inside = "/" + str(target.relative_to(point)).removeprefix(".").lstrip("/")
            return (root.rstrip("/") + inside) if root != "/" else inside
    return None


def read_cgroup(directory: Path, hierarchy_path: str | None = None) -> CgroupMemory:
    """Read a memory cgroup directory (v2 when ``memory.events`` exists, else v1).

    ``hierarchy_path`` defaults to the directory's place in the mounted hierarchy, so the
    result can be matched with the kernel's ``oom_memcg=``/``task_memcg=`` paths.
    """
    if not directory.is_dir():
        raise InputError("not a cgroup directory", str(directory))
    if hierarchy_path is None:
        hierarchy_path = hierarchy_path_of(directory)
    if (directory / "memory.events").exists() or (directory / "memory.max").exists():
        events = parse_flat_keyed(_read(directory, "memory.events") or "")
        return CgroupMemory(
            path=str(directory),
            version=CgroupVersion.V2,
            limit_bytes=parse_limit(_read(directory, "memory.max") or "", CgroupVersion.V2),
            usage_bytes=_int(_read(directory, "memory.current")),
            peak_bytes=_int(_read(directory, "memory.peak")),
            oom_kill=events.get("oom_kill"),
            oom=events.get("oom"),
            limit_hits=events.get("max"),
            hierarchy_path=hierarchy_path,
        )
    if not (directory / "memory.limit_in_bytes").exists():
        raise InputError(
            "no memory controller files (memory.events or memory.limit_in_bytes)", str(directory)
        )
    control = parse_flat_keyed(_read(directory, "memory.oom_control") or "")
    return CgroupMemory(
        path=str(directory),
        version=CgroupVersion.V1,
        limit_bytes=parse_limit(_read(directory, "memory.limit_in_bytes") or "", CgroupVersion.V1),
        usage_bytes=_int(_read(directory, "memory.usage_in_bytes")),
        peak_bytes=_int(_read(directory, "memory.max_usage_in_bytes")),
        oom_kill=control.get("oom_kill"),
        limit_hits=_int(_read(directory, "memory.failcnt")),
        under_oom=bool(control["under_oom"]) if "under_oom" in control else None,
        hierarchy_path=hierarchy_path,
    )


def _mounts(mountinfo: str) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(root, mount point) of the v1 memory hierarchy and of the v2 hierarchy."""
    v1: tuple[str, str] | None = None
    v2: tuple[str, str] | None = None
    for raw in mountinfo.splitlines():
        left, sep, right = raw.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], fields[4].replace("\\040", " ")
        if tail[0] == "cgroup2" and v2 is None:
            v2 = (root, point)
        elif tail[0] == "cgroup" and "memory" in tail[2].split(",") and v1 is None:
            v1 = (root, point)
    return v1, v2


def _join(mount: tuple[str, str], path: str) -> Path:
    root, point = mount
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]  # inside a cgroup namespace the mount's root is a prefix
    return Path(point) / path.lstrip("/")


def cgroup_dir_of_pid(pid: int, proc: Path = Path("/proc")) -> tuple[Path, str]:
    """The memory cgroup directory of a running pid and its path inside the hierarchy."""
    text = _read(proc / str(pid), "cgroup")
    if text is None:
        raise InputError(f"no such process (cannot read {proc}/{pid}/cgroup)", f"pid {pid}")
    v1_path, v2_path = parse_proc_cgroup(text)
    v1_mount, v2_mount = _mounts(_read(proc / "self", "mountinfo") or "")
    # A v1 memory line wins: on hybrid systems the v2 tree carries no memory controller.
    if v1_path is not None and v1_mount is not None:
        return _join(v1_mount, v1_path), v1_path
    if v2_path is not None and v2_mount is not None:
        return _join(v2_mount, v2_path), v2_path
    raise InputError(f"pid {pid} has no memory cgroup that is mounted here", f"pid {pid}")


def read_cgroup_of_pid(pid: int, proc: Path = Path("/proc")) -> CgroupMemory:
    """:func:`read_cgroup` for the memory cgroup of a running pid."""
    directory, hierarchy_path = cgroup_dir_of_pid(pid, proc)
    return read_cgroup(directory, hierarchy_path)


def _kb(size: int | None) -> int | None:
    return None if size is None else size // 1024


def kill_event(mem: CgroupMemory) -> KillEvent | None:
    """A kernel OOM kill event when the ``oom_kill`` counter is above zero, else None."""
    if not mem.oom_kill:
        return None
    peaked = (
        mem.limit_bytes is not None
        and mem.peak_bytes is not None
        and mem.peak_bytes >= mem.limit_bytes - _AT_LIMIT_SLACK
    )
    if mem.version is CgroupVersion.V2:
        own = (mem.oom or 0) > 0
    else:
        own = (mem.limit_hits or 0) > 0 or peaked
    usage = mem.peak_bytes if mem.peak_bytes is not None else mem.usage_bytes
    files = "memory.events" if mem.version is CgroupVersion.V2 else "memory.oom_control"
    if mem.version is CgroupVersion.V2:
        proof = "oom > 0 in memory.events"
    elif (mem.limit_hits or 0) > 0:
        proof = "memory.failcnt > 0"
    else:
        proof = "peak usage reached memory.limit_in_bytes"
    scope = (
        f"this cgroup's own limit was hit ({proof})"
        if own
        else "nothing shows this cgroup's own limit was hit: the kill may have been for a "
        "limit above it or for the whole machine"
    )
    return KillEvent(
        cause=Cause.KERNEL_OOM_MEMCG if own else Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        source="cgroup",
        killed=True,
        limit_kb=_kb(mem.limit_bytes),
        usage_kb=_kb(usage),
        failcnt=mem.limit_hits,
        oom_memcg=(mem.hierarchy_path or mem.path) if own else None,
        task_memcg=mem.hierarchy_path or mem.path,
        reason=f"oom_kill {mem.oom_kill}",
        message=(
            f"the kernel OOM killer killed {counted(mem.oom_kill, 'process', 'processes')} "
            "in this cgroup since it "
            f"was created; {scope}. The counter names no pid"
            + ("; usage_kb is the peak usage" if mem.peak_bytes is not None else "")
        ),
        evidence=(Evidence(f"oom_kill {mem.oom_kill}", f"{mem.path}/{files}"),),
    )
