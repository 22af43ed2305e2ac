"""The drill samples the process's CPU time (what ``plan`` sizes the CPU request from)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from killproof.drill.sampler import Sampler, SamplerConfig
from killproof.facts.drill import Sample

MIB = 1 << 20


def test_sampler_records_cumulative_cpu_seconds(tmp_path: Path) -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        sampler = Sampler(
            SamplerConfig(limit_bytes=64 * MIB, profile_dir=tmp_path),
            pid=busy.pid,
            read_cgroup=lambda: None,
            t0=time.monotonic(),
        )
        first = sampler.sample_once(0)
        time.sleep(0.5)
        second = sampler.sample_once(1)
    finally:
        busy.kill()
        busy.wait()
    assert first.cpu_seconds is not None and second.cpu_seconds is not None
    # A spinning process uses CPU while it runs (at least a tenth of the 0.5 s here, even
    # on a crowded machine), and the counter only grows.
    assert second.cpu_seconds - first.cpu_seconds >= 0.05
    assert second.to_json()["cpu_seconds"] == second.cpu_seconds


def test_unsampled_cpu_is_left_out_of_the_json() -> None:
    assert "cpu_seconds" not in Sample(t_s=1.0, rss_bytes=10).to_json()
    assert Sample(t_s=1.0, cpu_seconds=2.5).to_json()["cpu_seconds"] == 2.5
