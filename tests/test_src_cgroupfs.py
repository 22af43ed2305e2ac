"""Live memory cgroup counters: parsers, and a real OOM kill in a real cgroup (root only)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killproof.errors import InputError
from killproof.facts.kill import Cause
from killproof.sources.cgroupfs import (
    CgroupVersion,
    kill_event,
    parse_flat_keyed,
    parse_limit,
    parse_proc_cgroup,
    read_cgroup,
    read_cgroup_of_pid,
)

V1_ROOT = Path("/sys/fs/cgroup/memory")
V2_ROOT = Path("/sys/fs/cgroup")
LIMIT = 32 << 20  # bytes
TOUCH_MB = 80


def test_proc_cgroup_lines() -> None:
    hybrid = "9:name=systemd:/\n4:memory:/kubepods/pod1/abc\n1:cpu,cpuacct:/x\n0::/init.scope\n"
    assert parse_proc_cgroup(hybrid) == ("/kubepods/pod1/abc", "/init.scope")
    assert parse_proc_cgroup("0::/system.slice/orders.service\n") == (
        None,
        "/system.slice/orders.service",
    )
    assert parse_proc_cgroup("garbage\n4:memory\n") == (None, None)


def test_limits_and_keyed_files() -> None:
    assert parse_limit("max\n", CgroupVersion.V2) is None
    assert parse_limit("9223372036854771712\n", CgroupVersion.V1) is None
    assert parse_limit("33554432\n", CgroupVersion.V1) == 33554432
    events = "low 0\nhigh 0\nmax 41\noom 1\noom_kill 1\noom_group_kill 0\n"
    assert parse_flat_keyed(events) == {
        "low": 0,
        "high": 0,
        "max": 41,
        "oom": 1,
        "oom_kill": 1,
        "oom_group_kill": 0,
    }


def _write(d: Path, files: dict[str, str]) -> Path:
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_v2_files_with_and_without_own_limit_hit(tmp_path: Path) -> None:
    own = read_cgroup(
        _write(
            tmp_path / "own",
            {
                "memory.events": "low 0\nhigh 0\nmax 41\noom 1\noom_kill 1\n",
                "memory.max": "268435456\n",
                "memory.current": "1024\n",
                "memory.peak": "268431360\n",
            },
        ),
        "/kubepods.slice/pod1/cri-containerd-abc.scope",
    )
    assert (
        own.version,
        own.limit_bytes,
        own.peak_bytes,
        own.oom_kill,
        own.oom,
        own.limit_hits,
    ) == (CgroupVersion.V2, 268435456, 268431360, 1, 1, 41)
    event = kill_event(own)
    assert event is not None
    assert (event.cause, event.pid, event.limit_kb, event.usage_kb, event.failcnt) == (
        Cause.KERNEL_OOM_MEMCG,
        None,
        262144,
        262140,
        41,
    )
    assert event.oom_memcg == "/kubepods.slice/pod1/cri-containerd-abc.scope"
    # Killed for a limit above it (or the host): the counter alone does not prove the scope.
    above = read_cgroup(
        _write(
            tmp_path / "above",
            {
                "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 2\n",
                "memory.max": "max\n",
            },
        )
    )
    event = kill_event(above)
    assert event is not None
    assert (event.cause, event.limit_kb, event.oom_memcg) == (
        Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        None,
        None,
    )
    quiet = read_cgroup(_write(tmp_path / "quiet", {"memory.events": "oom 0\noom_kill 0\n"}))
    assert kill_event(quiet) is None


def test_v1_files(tmp_path: Path) -> None:
    files = {
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        "memory.limit_in_bytes": "536870912\n",
        "memory.max_usage_in_bytes": "104857600\n",
        "memory.usage_in_bytes": "52428800\n",
        "memory.failcnt": "0\n",
    }
    mem = read_cgroup(_write(tmp_path / "v1", files), "/docker/abc")
    assert (mem.version, mem.oom_kill, mem.under_oom, mem.limit_hits, mem.peak_bytes) == (
        CgroupVersion.V1,
        3,
        False,
        0,
        104857600,
    )
    event = kill_event(mem)
    assert event is not None
    # Peak far below the limit and no failures: these kills came from above (or the host).
    assert (event.cause, event.task_memcg, event.oom_memcg, event.usage_kb) == (
        Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        "/docker/abc",
        None,
        102400,
    )
    files["memory.failcnt"] = "17\n"
    hit = kill_event(read_cgroup(_write(tmp_path / "v1hit", files), "/docker/abc"))
    assert hit is not None
    assert (hit.cause, hit.oom_memcg, hit.failcnt) == (Cause.KERNEL_OOM_MEMCG, "/docker/abc", 17)


def test_not_a_cgroup(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no memory controller files"):
        read_cgroup(tmp_path)
    with pytest.raises(InputError, match="not a cgroup directory"):
        read_cgroup(tmp_path / "missing")
    with pytest.raises(InputError, match="no such process"):
        read_cgroup_of_pid(2**22 + 7)


@given(st.text(max_size=200))
def test_file_parsers_take_any_text(text: str) -> None:
    parse_flat_keyed(text)
    parse_proc_cgroup(text)
    for version in CgroupVersion:
        limit = parse_limit(text, version)
        assert limit is None or limit >= 0


def _v2_usable() -> bool:
    return (V2_ROOT / "cgroup.controllers").exists() and "memory" in (
        V2_ROOT / "cgroup.subtree_control"
    ).read_text()


@pytest.fixture
def memory_cgroup() -> Iterator[Path]:
    """A fresh memory cgroup limited to 32 MiB with no swap (v2 or v1), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a memory cgroup")
    name = f"killproof-test-{uuid.uuid4().hex[:8]}"
    if _v2_usable():
        path, limits = V2_ROOT / name, ("memory.max", "memory.swap.max")
    elif (V1_ROOT / "memory.limit_in_bytes").exists():
        path, limits = V1_ROOT / name, ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    else:
        pytest.skip("no memory cgroup hierarchy (v1 or v2) mounted on this machine")
    try:
        path.mkdir()
    except OSError as exc:
        pytest.skip(f"cannot create a memory cgroup under {path.parent}: {exc}")
    (path / limits[0]).write_text(str(LIMIT))
    if (path / limits[1]).exists():
        # No swap: the v2 swap limit is separate, the v1 one counts memory + swap.
        (path / limits[1]).write_text("0" if limits[1] == "memory.swap.max" else str(LIMIT))
    try:
        yield path
    finally:
        for _ in range(50):  # the killed task may take a moment to leave the cgroup
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def _in_cgroup(path: Path, code: str) -> subprocess.Popen[bytes]:
    """Start ``python -c code`` inside the cgroup (it moves itself in before running code)."""
    join = f"open({str(path / 'cgroup.procs')!r}, 'w').write(str(__import__('os').getpid()))\n"
    return subprocess.Popen([sys.executable, "-c", join + code])


@pytest.mark.root
def test_real_oom_kill_counts_in_the_cgroup(memory_cgroup: Path) -> None:
    before = read_cgroup(memory_cgroup)
    assert before.limit_bytes == LIMIT
    assert not before.oom_kill
    assert kill_event(before) is None
    hog = _in_cgroup(
        memory_cgroup,
        (f"b = bytearray({TOUCH_MB} << 20)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\n"),
    )
    assert hog.wait(timeout=60) == -9  # SIGKILL from the kernel OOM killer
    after = read_cgroup(memory_cgroup)
    assert after.oom_kill == 1
    event = kill_event(after)
    assert event is not None
    assert (event.cause, event.killed, event.pid, event.limit_kb) == (
        Cause.KERNEL_OOM_MEMCG,
        True,
        None,
        LIMIT // 1024,
    )
    assert event.usage_kb is not None
    assert event.usage_kb <= LIMIT // 1024
    assert event.usage_kb > LIMIT // 1024 // 2  # it did fill the cgroup before dying
    # memory.failcnt as the kernel left it (a 6.x kernel keeps it at 0 here); the scope is
    # proven by memory.events "oom" (v2) or by the peak reaching the limit (v1).
    assert event.failcnt == after.limit_hits
    assert "own limit was hit" in (event.message or "")


@pytest.mark.root
def test_cgroup_of_a_live_pid(memory_cgroup: Path) -> None:
    sleeper = _in_cgroup(memory_cgroup, "import time; time.sleep(30)")
    try:
        deadline = time.monotonic() + 10
        while str(sleeper.pid) not in (memory_cgroup / "cgroup.procs").read_text():
            assert time.monotonic() < deadline, "child never joined the cgroup"
            time.sleep(0.02)
        mem = read_cgroup_of_pid(sleeper.pid)
        assert Path(mem.path) == memory_cgroup
        assert mem.hierarchy_path == "/" + memory_cgroup.name
        assert mem.limit_bytes == LIMIT
    finally:
        sleeper.kill()
        sleeper.wait()
