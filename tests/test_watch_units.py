"""The watcher's pure parts and edges: triggers and cooldowns, capture names and pruning,
the exporter's loopback rule, the post-mortem's cause, the command's usage errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import REPO
from killproof.analysis.leak_online import GOROUTINE_SETTINGS, MIB, LeakSignal, OnlineLeakJudge
from killproof.cli import main
from killproof.errors import InputError
from killproof.facts.drill import Exit, Sample
from killproof.watch.capture import CaptureName, CaptureStore
from killproof.watch.exporter import WatchMetrics, parse_address
from killproof.watch.postmortem import Death, oom_record
from killproof.watch.triggers import Reading, Triggers, TriggerSettings


def signal_at(t: float, *, leaking: bool = False, to_limit: float | None = None) -> LeakSignal:
    return LeakSignal(t_s=t, leaking=leaking, called=leaking, slope_per_s=MIB,
                      slope_low_per_s=0.9 * MIB, confidence=0.999, level=40 * MIB,
                      window_s=30, bins=60, limit=64 * MIB, seconds_to_limit=to_limit,
                      reason="")  # fmt: skip


def test_memory_ratio_fires_once_per_cooldown() -> None:
    triggers = Triggers(TriggerSettings(memory_ratio=0.8, cooldown_s=60))
    high = Reading(memory_bytes=55 * MIB, limit_bytes=64 * MIB)
    assert triggers.fire(0.0, high, None) == ["memory-86pct"]
    assert triggers.fire(30.0, high, None) == []
    assert triggers.fire(60.0, high, None) == ["memory-86pct"]
    assert triggers.fire(61.0, Reading(10 * MIB, 64 * MIB), None) == []


def test_projection_and_leak_fire_on_their_own_cooldowns() -> None:
    triggers = Triggers(TriggerSettings(projected_s=120, cooldown_s=100))
    low = Reading(memory_bytes=20 * MIB, limit_bytes=64 * MIB)
    assert triggers.fire(0.0, low, signal_at(0.0, to_limit=500)) == []
    assert triggers.fire(1.0, low, signal_at(1.0, to_limit=90)) == ["limit-in-90s"]
    assert triggers.fire(2.0, low, signal_at(2.0, leaking=True, to_limit=80)) == ["leak-flagged"]
    assert triggers.fire(3.0, low, signal_at(3.0, leaking=True, to_limit=70)) == []
    # An unsure trend projects nothing.
    unsure = LeakSignal(**{**signal_at(200.0, to_limit=10).__dict__, "confidence": 0.6})
    assert triggers.fire(200.0, low, unsure) == []


def test_goroutine_trigger_needs_a_threshold() -> None:
    many = Reading(memory_bytes=None, limit_bytes=None, goroutines=5000)
    assert Triggers(TriggerSettings()).fire(0.0, many, None) == []
    assert Triggers(TriggerSettings(goroutines=1000)).fire(0.0, many, None) == ["goroutines-5000"]


def test_growing_goroutines_fire_when_their_judge_flags_them() -> None:
    triggers = Triggers(TriggerSettings())
    reading = Reading(memory_bytes=None, limit_bytes=None, goroutines=300)
    judge = OnlineLeakJudge(None, GOROUTINE_SETTINGS)
    fired: list[tuple[float, list[str]]] = []
    for i in range(40):  # 20 → 800 goroutines over 195 s, one count every 5 s
        t = 5.0 * i
        growing = judge.observe(t, 20.0 + 20 * i)
        fired.append((t, triggers.fire(t, reading, None, growing)))
    when = [t for t, reasons in fired if "goroutines-growing" in reasons]
    assert when and when[0] <= 60.0  # one capture, within a minute of the growth starting
    assert len(when) == 1  # the cooldown (300 s) holds it to one


def test_capture_names_say_when_what_which_and_why(tmp_path: Path) -> None:
    name = CaptureName(1796688000.0, "orders/api", 4242, "leak-flagged")
    assert name.file(".heap.pb.gz") == "20261208T000000Z-orders_api-pid4242-leak-flagged.heap.pb.gz"
    store = CaptureStore(tmp_path)
    path = store.write_samples(name, [Sample(t_s=1.5, rss_bytes=10)])
    body = json.loads(path.read_text())
    assert (body["pid"], body["reason"], body["samples"][0]["rss_bytes"]) == (
        4242,
        "leak-flagged",
        10,
    )


def test_post_mortems_go_last_and_only_when_they_alone_are_over(tmp_path: Path) -> None:
    store = CaptureStore(tmp_path, max_bytes=2500)
    old = [store.write(CaptureName(float(i), "svc", i, "died"), ".postmortem.json", b"p" * 1000)
           for i in range(3)]  # fmt: skip
    assert not old[0].exists() and old[1].exists() and old[2].exists()


def test_max_disk_prunes_the_oldest_captures_before_any_post_mortem(tmp_path: Path) -> None:
    store = CaptureStore(tmp_path, max_bytes=2500)
    pm = store.write(CaptureName(1.0, "svc", 1, "died"), ".postmortem.json", b"x" * 1000)
    paths = []
    for i in range(4):
        paths.append(store.write(CaptureName(10.0 + i, "svc", 1, f"r{i}"), ".heap.pb.gz",
                                 b"h" * 1000))  # fmt: skip
        os.utime(paths[-1], (100 + i, 100 + i))
    left = {p.name for p in store.files()}
    assert pm.name in left and paths[-1].name in left
    assert paths[0].name not in left and paths[1].name not in left
    assert sum(p.stat().st_size for p in store.files()) <= 2500


@pytest.mark.parametrize("text", ["127.0.0.1:9464", ":9464", "[::1]:9464", "localhost:9464"])
def test_exporter_binds_loopback(text: str) -> None:
    assert parse_address(text).port == 9464


def test_exporter_refuses_the_network_unless_asked() -> None:
    with pytest.raises(InputError, match="--exporter-public"):
        parse_address("0.0.0.0:9464")
    assert parse_address("0.0.0.0:9464", public=True).host == "0.0.0.0"
    with pytest.raises(InputError, match="HOST:PORT"):
        parse_address("9464x")


def test_exporter_serves_the_metrics_it_names() -> None:
    metrics = WatchMetrics()
    metrics.memory_ratio.labels("orders").set(0.5)
    metrics.projected.labels("orders").set(42.0)
    metrics.captures.labels("orders", "leak").inc()
    metrics.kills.labels("orders", "cgroup-events").inc()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.serve(parse_address(f"127.0.0.1:{port}"))
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        metrics.close()
    assert 'killproof_memory_ratio{target="orders"} 0.5' in text
    assert 'killproof_projected_seconds_to_limit{target="orders"} 42.0' in text
    assert 'killproof_captures_total{reason="leak",target="orders"} 1.0' in text
    assert 'killproof_kills_total{cause="cgroup-events",target="orders"} 1.0' in text


def test_post_mortem_cause_counter_then_kernel_then_exit_status() -> None:
    samples = [Sample(t_s=1.0, cgroup_usage_bytes=60 * MIB, oom_kills=0)]
    counted = Death(2.0, None, 0, 1, 64 * MIB)
    rec = oom_record(counted, samples)
    assert rec is not None and rec.source == "cgroup-events" and rec.memory_bytes == 60 * MIB
    kernel = Death(2.0, None, 0, 0, 64 * MIB, kernel_lines=("svc (pid 9) OOM-killed",))
    rec = oom_record(kernel, samples)
    assert rec is not None and rec.source == "kernel-log"
    sigkill = Death(2.0, Exit(2.0, signal="SIGKILL"), None, None, 64 * MIB)
    rec = oom_record(sigkill, samples)
    assert rec is not None and rec.source == "exit-status"
    assert oom_record(Death(2.0, Exit(2.0, code=1), None, None, 64 * MIB), samples) is None


def test_an_unwritable_out_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["watch", "--pid", str(os.getpid()), "--out", str(blocker / "x")]) == 2
    assert f"--out {blocker / 'x'}: cannot write there" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch"]) == 2
    assert "exactly one of --pid" in capsys.readouterr().err
    assert main(["watch", "--pid", "1", "--name", "x"]) == 2
    assert main(["watch", "--pid", "1", "--exporter", "10.0.0.1:9464"]) == 2
    assert "--exporter-public" in capsys.readouterr().err


def test_watching_a_command_that_exits_writes_a_post_mortem(tmp_path: Path) -> None:
    """No cgroup or root needed: the watcher starts the command, sees it exit, says how."""
    out = tmp_path / "w"
    script = "import time; x = bytearray(8 << 20); time.sleep(1.5); raise SystemExit(3)"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "killproof.cli", "watch", "--out", str(out), "--interval", "0.2s",
         "--", sys.executable, "-c", script],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (pm_path,) = out.glob("*-died.postmortem.json")
    pm = json.loads(pm_path.read_text())
    assert pm["command"] == "watch"
    assert pm["startup"]["exit"] == "exit status 3"
    assert pm["oom"] is None
    assert max(s["rss_bytes"] or 0 for s in pm["samples"]) >= 8 << 20
    assert time.time() - pm_path.stat().st_mtime < 60


def test_name_reattaches_after_a_restart_and_sigterm_exits_0(tmp_path: Path) -> None:
    """``--name`` writes a post-mortem for each death and follows the next process."""
    sleeper = tmp_path / "kpwatchsleep"
    shutil.copy("/bin/sleep", sleeper)
    out = tmp_path / "w"
    first = subprocess.Popen([str(sleeper), "30"])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "killproof.cli", "watch", "--name", sleeper.name, "--out",
         str(out), "--interval", "0.2s"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    second: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(2.0)
        first.kill()
        first.wait()
        wait_for(lambda: len(list(out.glob("*-died.postmortem.json"))) == 1)
        second = subprocess.Popen([str(sleeper), "30"])
        time.sleep(2.0)
        second.terminate()
        second.wait()
        wait_for(lambda: len(list(out.glob("*-died.postmortem.json"))) == 2)
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(timeout=20)
    finally:
        for p in (first, second, watcher):
            if p is not None and p.poll() is None:
                p.kill()
    assert code == 0
    commands = {json.loads(p.read_text())["metadata"]["command"][0] for p in out.glob("*died*")}
    assert commands == {str(sleeper)}
    names = sorted(p.name for p in out.glob("*-died.postmortem.json"))
    assert f"pid{first.pid}-died" in names[0] + names[1] and second is not None
    assert f"pid{second.pid}-died" in names[0] + names[1]


def wait_for(done: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
