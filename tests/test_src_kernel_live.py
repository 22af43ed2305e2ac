"""Real kernel OOM kills in real memory cgroups, read back from ``dmesg`` by the parser.

Needs root and a writable memory controller (cgroup v1 ``/sys/fs/cgroup/memory`` or cgroup
v2 with ``memory`` enabled); skipped with the reason otherwise. Every cgroup made here is
removed again, and every process left in it killed, whatever the outcome.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from killproof.facts.kill import Cause, KillEvent, LimitScope
from killproof.sources.kernel import KernelOomParser
from killproof.sources.logscan import Prefilter, scan

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernel"


V1 = Path("/sys/fs/cgroup/memory")
V2 = Path("/sys/fs/cgroup")
MIB = 1 << 20

pytestmark = pytest.mark.root


class MemoryCgroups:
    """Memory cgroups under one hierarchy (v1 or v2), removed by :meth:`cleanup`."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            pytest.skip("needs root to create memory cgroups")
        if shutil.which("dmesg") is None:
            pytest.skip("needs dmesg to read the kernel log")
        if (V1 / "memory.limit_in_bytes").exists() and os.access(V1, os.W_OK):
            self.root, self.v2 = V1, False
        elif "memory" in _read(V2 / "cgroup.controllers").split() and os.access(V2, os.W_OK):
            self.root, self.v2 = V2, True
        else:
            pytest.skip("no writable memory cgroup controller (v1 or v2) on this machine")
        self.made: list[Path] = []

    def make(self, relative: str, limit_bytes: int | None) -> Path:
        """Create ``relative`` (parents first) with an optional memory limit."""
        path = self.root / relative.strip("/")
        if self.v2:
            _write(path.parent / "cgroup.subtree_control", "+memory")
        path.mkdir()
        self.made.append(path)
        if limit_bytes is not None:
            if self.v2:
                _write(path / "memory.max", str(limit_bytes))
                with contextlib.suppress(OSError):
                    _write(path / "memory.swap.max", "0")
            else:
                _write(path / "memory.limit_in_bytes", str(limit_bytes))
        return path

    def spawn(
        self, cgroup: Path, argv: list[str], stdout: int = subprocess.DEVNULL
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` already inside ``cgroup`` (it joins before exec: nothing escapes)."""
        # the shell moves itself in, then becomes argv[0] with the same pid
        join = 'echo $$ > "$0" && exec "$@"'
        return subprocess.Popen(
            ["sh", "-c", join, str(cgroup / "cgroup.procs"), *argv],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )

    def cleanup(self) -> None:
        """Kill what is left in our cgroups and remove them, deepest first."""
        for path in reversed(self.made):
            deadline = time.monotonic() + 10
            while path.exists():
                for pid in _read(path / "cgroup.procs").split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                try:
                    path.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@pytest.fixture
def cgroups() -> Iterator[MemoryCgroups]:
    groups = MemoryCgroups()
    try:
        yield groups
    finally:
        groups.cleanup()


@pytest.fixture
def gohog(go_build: Callable[[Path], Path]) -> Path:
    return go_build(FIXTURES / "gohog")


def uptime_s() -> float:
    """Seconds since boot (the clock of raw dmesg stamps)."""
    return float(Path("/proc/uptime").read_text().split()[0])


def kernel_events(since_s: float) -> list[KillEvent]:
    """This machine's kernel log, parsed as a user's ``dmesg`` output would be; only kills
    printed after ``since_s`` (uptime, minus a margin: the two clocks differ slightly)."""
    out = subprocess.run(["dmesg"], capture_output=True, check=True).stdout
    events = scan(io.BytesIO(out), "dmesg", [KernelOomParser("dmesg")], Prefilter.PYTHON)
    return [e for e in events if e.uptime_s is not None and e.uptime_s >= since_s - 5]


def cgroup_path(groups: MemoryCgroups, path: Path) -> str:
    """The path the kernel prints for a cgroup: relative to the hierarchy's root."""
    return "/" + str(path.relative_to(groups.root))


def test_go_hog_in_a_32m_cgroup_is_found_with_its_pid_and_limit(
    cgroups: MemoryCgroups, gohog: Path
) -> None:
    group = cgroups.make(f"killproof-live-{uuid.uuid4().hex[:8]}", 32 * MIB)
    start = uptime_s()
    proc = cgroups.spawn(group, [str(gohog), "256", "30"])
    assert proc.wait(timeout=60) == -signal.SIGKILL

    recent = kernel_events(start)
    mine = [e for e in recent if e.pid == proc.pid]
    assert len(mine) == 1, [(e.pid, e.oom_memcg) for e in recent]
    [event] = mine
    assert event.cause is Cause.KERNEL_OOM_MEMCG
    assert event.process == gohog.name[:15]  # the kernel prints comm, 15 characters at most
    assert event.limit_kb == 32 * 1024
    assert event.oom_memcg == event.task_memcg == cgroup_path(cgroups, group)
    assert event.limit_scope is LimitScope.OWN
    assert event.invoker_pid is not None  # the faulting thread: may or may not be the tgid
    assert event.anon_rss_kb is not None and 16 * 1024 < event.anon_rss_kb <= 32 * 1024
    assert any(t.pid == proc.pid for t in event.top_tasks)


def test_pod_limit_hit_by_a_container_without_its_own_is_an_ancestor_limit(
    cgroups: MemoryCgroups, gohog: Path
) -> None:
    pod = cgroups.make(f"killproof-pod-{uuid.uuid4().hex[:8]}", 48 * MIB)
    app = cgroups.make(f"{pod.relative_to(cgroups.root)}/app", None)
    sidecar = cgroups.make(f"{pod.relative_to(cgroups.root)}/sidecar", None)
    start = uptime_s()
    side = cgroups.spawn(sidecar, [str(gohog), "8", "60"], stdout=subprocess.PIPE)
    assert side.stdout is not None
    assert side.stdout.readline() == b"holding 8 MiB\n"  # its memory is charged first
    hog = cgroups.spawn(app, [str(gohog), "256", "30"])
    assert hog.wait(timeout=60) == -signal.SIGKILL
    assert side.poll() is None  # the smaller process in the other container survived

    [event] = [e for e in kernel_events(start) if e.pid == hog.pid]
    assert event.cause is Cause.KERNEL_OOM_MEMCG
    assert event.oom_memcg == cgroup_path(cgroups, pod)
    assert event.task_memcg == cgroup_path(cgroups, app)
    assert event.limit_scope is LimitScope.ANCESTOR
    assert event.limit_kb == 48 * 1024
    assert {t.pid for t in event.top_tasks} >= {hog.pid, side.pid}


def test_why_with_no_input_reads_this_machines_kernel_log(
    cgroups: MemoryCgroups, gohog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The on-call case: nothing but the host. `killproof why` reads dmesg itself, and
    `--cgroup` adds the cgroup's own counters, merged into the same death."""
    import json

    from killproof.cli import main

    group = cgroups.make(f"killproof-why-{uuid.uuid4().hex[:8]}", 32 * MIB)
    proc = cgroups.spawn(group, [str(gohog), "256", "30"])
    assert proc.wait(timeout=60) == -signal.SIGKILL

    assert main(["why", "--format", "json"]) == 1
    events = json.loads(capsys.readouterr().out)["events"]
    [event] = [e for e in events if e["pid"] == proc.pid]
    assert event["cause"] == "KERNEL_OOM_MEMCG"
    assert event["limit_kb"] == 32 * 1024
    assert event["oom_memcg"] == cgroup_path(cgroups, group)

    assert main(["why", "--live", "--cgroup", str(group), "--format", "json"]) == 1
    events = json.loads(capsys.readouterr().out)["events"]
    [event] = [e for e in events if e["pid"] == proc.pid]
    assert "cgroup" in event["source"].split("+")
    assert any("oom_kill" in ev["text"] for ev in event["evidence"])
