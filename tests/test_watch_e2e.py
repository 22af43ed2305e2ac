"""`killproof watch` on a real Go service leaking under load in a real memory cgroup.

The watcher is run as a user runs it (its own process, `python -m killproof.cli watch`),
(a) starting the service itself and (b) attached to one already running. Each test asserts
what the on-call engineer needs: a heap profile on disk taken while at least half of the
time to the kill was left, and a post-mortem naming the OOM kill and the allocation site.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import REPO, is_root
from killproof.drill import cgroup

FIXTURE = REPO / "tests" / "fixtures" / "drill" / "leak"
LIMIT = 48 << 20
RATE = 40.0
"""Requests/s: the fixture keeps 64 KiB per request, ~2.5 MiB/s, killed after ~15 s."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not is_root() or cgroup.find_root() is None,
        reason="needs root and a writable memory cgroup (v1 or v2) to enforce a real limit",
    ),
]
Build = Callable[[Path], Path]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def memory_cgroup() -> Iterator[cgroup.MemoryCgroup]:
    root = cgroup.find_root()
    assert root is not None
    made = cgroup.create(root, LIMIT)
    try:
        yield made
    finally:
        made.remove()


def ready(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class Load:
    """GET /orders?id=N at a steady rate until stopped or the service is gone."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.started_at = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.started_at = time.time()
        self.thread.start()

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", f"/orders?id={n}")
                conn.getresponse().read()
                conn.close()
            n += 1
            next_at += 1 / RATE
            time.sleep(max(0.0, next_at - time.monotonic()))


def watch(out: Path, *target: str, port: int | None = None) -> subprocess.Popen[bytes]:
    """``killproof watch`` in its own process; ``--pprof`` only when ``port`` is given (else
    the watcher finds the pprof server on the process's listening ports)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    pprof = ["--pprof", f"http://127.0.0.1:{port}"] if port else []
    return subprocess.Popen(
        [sys.executable, "-m", "killproof.cli", "watch", "--out", str(out), "--interval", "0.25s",
         *pprof, *target],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_gone(pid: int, timeout_s: float = 120.0) -> float:
    """Wall time at which ``pid`` was seen gone (polled every 20 ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    return time.time()
        except ProcessLookupError:
            return time.time()
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} still alive after {timeout_s} s")


def check_evidence(out: Path, load_start: float, killed_at: float) -> dict[str, object]:
    """The captures and post-mortem an SRE would open; returns the post-mortem."""
    heaps = sorted(out.glob("*.heap.pb.gz"))
    assert heaps, sorted(p.name for p in out.iterdir())
    first_heap = min(p.stat().st_mtime for p in heaps)
    time_to_kill = killed_at - load_start
    assert killed_at - first_heap >= 0.5 * time_to_kill, (first_heap, load_start, killed_at)
    print(f"heap captured {killed_at - first_heap:.1f} s before the kill, "
          f"{time_to_kill:.1f} s after the load started")  # fmt: skip
    assert any(out.glob("*.goroutines.txt")) and any(out.glob("*.samples.json"))
    (pm_path,) = out.glob("*.postmortem.json")
    pm: dict[str, object] = json.loads(pm_path.read_text())
    oom = pm["oom"]
    assert isinstance(oom, dict) and oom["source"] == "cgroup-events"
    assert oom["limit_bytes"] == LIMIT
    assert oom["top_sites"] and oom["top_sites"][0]["function"] == "main.remember"
    findings = pm["findings"]
    assert isinstance(findings, list)
    (kp601,) = [f for f in findings if f["rule"] == "KP601"]
    assert "main.remember" in kp601["message"]
    return pm


def test_watch_started_with_the_service_captures_before_the_kill(
    go_build: Build, tmp_path: Path, memory_cgroup: cgroup.MemoryCgroup
) -> None:
    binary = go_build(FIXTURE)
    port = free_port()
    procs = " ".join(f"echo $$ > {p} &&" for p in memory_cgroup.procs_files())
    out = tmp_path / "captures"
    os.environ["PORT"] = str(port)  # the service reads PORT; the watcher passes its env on
    try:
        watcher = watch(out, "--", "sh", "-c", f"{procs} exec {binary}", port=port)
    finally:
        del os.environ["PORT"]
    load = Load(port)
    try:
        ready(port)
        (service,) = memory_cgroup.pids()
        load.start()
        killed_at = wait_gone(service)
        code = watcher.wait(timeout=60)
    finally:
        load.stop.set()
        watcher.kill()
    assert code == 0, watcher.stderr.read() if watcher.stderr else ""
    pm = check_evidence(out, load.started_at, killed_at)
    assert pm["startup"]["exit"] == "killed by SIGKILL"  # type: ignore[index]
    online = pm["leak"]["online"]  # type: ignore[index]
    assert online is not None and online["projected_seconds_to_limit"] is not None


def test_watch_attached_after_the_service_started_captures_before_the_kill(
    go_build: Build, tmp_path: Path, memory_cgroup: cgroup.MemoryCgroup
) -> None:
    binary = go_build(FIXTURE)
    port = free_port()
    procs = " ".join(f"echo $$ > {p} &&" for p in memory_cgroup.procs_files())
    service = subprocess.Popen(["sh", "-c", f"{procs} exec {binary}"],
                               env={**os.environ, "PORT": str(port)})  # fmt: skip
    out = tmp_path / "captures"
    load = Load(port)
    watcher: subprocess.Popen[bytes] | None = None
    try:
        ready(port)
        watcher = watch(out, "--pid", str(service.pid))  # pprof found on its port
        time.sleep(1.0)  # the watcher is up and sampling before the load starts
        load.start()
        killed_at = wait_gone(service.pid)
        code = watcher.wait(timeout=60)
    finally:
        load.stop.set()
        service.kill()
        service.wait()
        if watcher is not None:
            watcher.kill()
    assert code == 0, watcher.stderr.read() if watcher.stderr else ""
    pm = check_evidence(out, load.started_at, killed_at)
    notes = pm["notes"]
    assert isinstance(notes, list) and any("exit status unknown" in n for n in notes)


def test_sigterm_flushes_the_window_and_exits_0(go_build: Build, tmp_path: Path) -> None:
    binary = go_build(FIXTURE)
    port = free_port()
    service = subprocess.Popen([str(binary)], env={**os.environ, "PORT": str(port)})
    out = tmp_path / "captures"
    try:
        ready(port)
        watcher = watch(out, "--pid", str(service.pid), port=port)
        time.sleep(2.0)
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(timeout=20)
    finally:
        service.kill()
        service.wait()
    assert code == 0
    (window,) = out.glob(f"*-pid{service.pid}-watcher-stopped.samples.json")
    samples = json.loads(window.read_text())["samples"]
    assert len(samples) >= 4 and all(s["rss_bytes"] for s in samples)
    assert service.poll() is not None  # killed by us above, not by the watcher it only watched


def test_cgroup_target_reattaches_to_the_next_process_in_it(
    tmp_path: Path, memory_cgroup: cgroup.MemoryCgroup
) -> None:
    """A systemd service restarts in the same cgroup: one post-mortem per death, then on."""
    procs = " ".join(f"echo $$ > {p} &&" for p in memory_cgroup.procs_files())
    out = tmp_path / "captures"

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["sh", "-c", f"{procs} exec sleep 60"])
        deadline = time.monotonic() + 5
        while proc.pid not in memory_cgroup.pids():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return proc

    first = start()
    watcher = watch(out, "--cgroup", str(memory_cgroup.memory_dir))
    second: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(1.5)
        first.kill()
        first.wait()
        second = start()
        # The watcher re-attaches once the first post-mortem is written (under load that
        # takes longer than the second process would otherwise live).
        deadline = time.monotonic() + 20
        while not list(out.glob(f"*pid{first.pid}-died.postmortem.json")):
            assert time.monotonic() < deadline, sorted(p.name for p in out.iterdir())
            time.sleep(0.1)
        time.sleep(1.5)
        second.kill()
        second.wait()
        deadline = time.monotonic() + 20
        while len(list(out.glob("*-died.postmortem.json"))) < 2:
            assert time.monotonic() < deadline, sorted(p.name for p in out.iterdir())
            time.sleep(0.1)
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=20) == 0
    finally:
        watcher.kill()
    names = " ".join(p.name for p in out.glob("*-died.postmortem.json"))
    assert f"pid{first.pid}-died" in names and f"pid{second.pid}-died" in names
    pm = json.loads(next(out.glob(f"*pid{second.pid}-died.postmortem.json")).read_text())
    assert pm["limits"]["memory_bytes"] == LIMIT and pm["sandbox"].startswith("cgroup-v")
