"""Benchmark: killproof's built-in load engine vs wrk, and the drill sampler's CPU cost.

Run: ``.venv/bin/python bench/load_vs_wrk.py [--connections 16] [--duration 10] [--rounds 3]``

One Go "hello" server (``bench/hello``, built with the local toolchain) serves both
generators in the same run, one after the other, with the same connection count and
duration:

1. **Closed loop, max rate** — ``wrk -t1 -cC -dD`` vs our engine's ``max`` step (each
   connection sends its next request on the previous answer, as wrk does), interleaved
   for ``--rounds`` rounds, medians compared. wrk with one
   thread is the fair peer for a one-thread asyncio engine; ``-t2`` is printed for scale.
   CPU seconds of each generator are measured too (wrk: rusage of the child; ours:
   process time), giving requests per CPU-second.
2. **Open loop, max sustainable rate** — our engine at increasing constant arrival
   rates (3 s steps) until a step fails ``p99<100ms`` / ≥ 95 % of the asked rate
   answered, judged by :func:`killproof.analysis.leak.capacity`. (wrk has no
   open-loop mode; wrk2 is not packaged in Debian.)
3. **Sampler CPU cost** — the drill's :class:`killproof.drill.sampler.Sampler` at 10 Hz
   on the server's pid (RSS every tick, PSS and a ``/metrics`` scrape each second, and
   the server's memory cgroup when running as root), for ``--sampler-seconds``; reported
   as % of one core (process CPU time over wall time, nothing else running).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from killproof import gotool
from killproof.analysis.leak import capacity, parse_slo
from killproof.drill import cgroup
from killproof.drill.cgroup import MemoryState
from killproof.drill.load import (
    LoadPlan,
    LoadStep,
    StepResult,
    Transport,
    parse_rate_spec,
    run_load,
)
from killproof.drill.request_source import single_request
from killproof.drill.sampler import Sampler, SamplerConfig

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OPEN_RATES = (1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12500, 15000, 20000, 25000)


def build_server(tmp: Path) -> Path:
    """Build bench/hello with the local, offline Go toolchain."""
    return gotool.build(HERE / "hello", tmp / "hello", cache_dir=REPO / ".cache")


def start_server(binary: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("LISTENING "):
        raise SystemExit(f"hello server did not start: {line!r}")
    return proc, int(line.split()[1])


def run_wrk(url: str, threads: int, connections: int, duration: int) -> tuple[float, float]:
    """(requests/s, CPU seconds of wrk) for one wrk run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(match.group(1)), cpu


def run_ours(plan: LoadPlan) -> tuple[tuple[StepResult, ...], float]:
    """The engine's step results and the CPU seconds this process spent on them."""
    cpu0 = time.process_time()
    result = asyncio.run(run_load(plan))
    return result.steps, time.process_time() - cpu0


def open_loop_max(base: str, connections: int) -> tuple[float | None, list[StepResult]]:
    """Step the arrival rate up until a step fails; the highest rate that held."""
    steps: list[StepResult] = []
    slo = parse_slo("p99<100ms")
    for rate in OPEN_RATES:
        plan = LoadPlan(base, single_request("/"), (LoadStep(rate, 3.0),), connections)
        (step,), _ = run_ours(plan)
        steps.append(step)
        verdict = capacity([step], slo).steps[0]
        print(
            f"  open {rate:>6}/s: achieved {step.rate_achieved_rps:8.0f}/s "
            f"p99 {step.p99_ms:8.1f} ms  {verdict.reason}"
        )
        if not verdict.held:
            break
    indexed = [StepResult(**{**s.__dict__, "index": i}) for i, s in enumerate(steps)]
    return capacity(indexed, slo).held_rate_rps, steps


def sampler_cost(pid: int, port: int, seconds: float) -> tuple[float, int, str]:
    """(% of one core, samples taken, what the cgroup reader read) for the sampler at 10 Hz."""
    read: Callable[[], MemoryState | None] = lambda: None  # noqa: E731
    where = "no cgroup (not root)"
    group = None
    root = cgroup.find_root()
    if root is not None:
        group = cgroup.create(root, 512 * 1024 * 1024)
        group.procs_files()[0].write_text(str(pid))
        read = group.read
        where = f"cgroup {root.version.value} {group.name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = SamplerConfig(
                limit_bytes=512 * 1024 * 1024, profile_dir=Path(tmp), rate_hz=10.0, port=port
            )
            sampler = Sampler(config, pid, read, time.monotonic())
            cpu0, wall0 = time.process_time(), time.monotonic()
            sampler.start()
            time.sleep(seconds)
            sampler.stop()
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            count = len(sampler.samples())
    finally:
        if group is not None and root is not None:
            # Hand the server back to the root cgroup so the drill cgroup can go.
            (root.memory / "cgroup.procs").write_text(str(pid))
            group.remove()
    return 100.0 * cpu / wall, count, where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per closed-loop run")
    parser.add_argument("--sampler-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved closed-loop rounds")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    c, d = args.connections, args.duration
    with tempfile.TemporaryDirectory(prefix="kp-bench-") as tmp:
        proc, port = start_server(build_server(Path(tmp)))
        base = f"http://127.0.0.1:{port}"
        try:
            print(f"hello server pid {proc.pid} on {base}; {os.cpu_count()} CPUs")
            run_wrk(base + "/", 1, c, 1)  # warm-up: connections, page cache, Go heap
            plan = LoadPlan(base, single_request("/"), parse_rate_spec(f"max/{d}s", d), c)
            # Interleaved rounds, medians: on a shared machine a neighbour's burst should
            # hit both generators, not whichever happened to run at that moment.
            wrk_runs, ours_runs = [], []
            for _ in range(args.rounds):
                wrk_runs.append(run_wrk(base + "/", 1, c, d))
                (step,), cpu = run_ours(plan)
                ours_runs.append((step.rate_achieved_rps, step.completed / cpu))
            wrk1 = statistics.median(r for r, _ in wrk_runs)
            wrk1_per_cpu = statistics.median(r * d / cpu for r, cpu in wrk_runs)
            ours_rate = statistics.median(r for r, _ in ours_runs)
            per_cpu = statistics.median(p for _, p in ours_runs)
            wrk2, _ = run_wrk(base + "/", 2, c, d)
            (aio,), aio_cpu = run_ours(dataclasses.replace(plan, transport=Transport.AIOHTTP))
            print(f"closed loop, {c} connections, {d}s each, median of {args.rounds} rounds:")
            print(f"  wrk -t1          {wrk1:10.0f} req/s  ({wrk1_per_cpu:8.0f} req/CPU-s)")
            print(f"    rounds: {', '.join(f'{r:.0f}' for r, _ in wrk_runs)}")
            print(f"  killproof max    {ours_rate:10.0f} req/s  ({per_cpu:8.0f} req/CPU-s)")
            print(f"    rounds: {', '.join(f'{r:.0f}' for r, _ in ours_runs)}")
            print(f"  wrk -t2          {wrk2:10.0f} req/s (one run, for scale)")
            aio_rate, aio_per_cpu = aio.rate_achieved_rps, aio.completed / aio_cpu
            print(f"  (aiohttp transport {aio_rate:8.0f} req/s  ({aio_per_cpu:8.0f} req/CPU-s))")
            print(f"  ratio killproof / wrk -t1: {ours_rate / wrk1:.2f}x (target >= 0.5x)")
            print(f"  ratio per CPU-second:      {per_cpu / wrk1_per_cpu:.2f}x")
            print("open loop (killproof only), 3 s steps, held = p99<100ms and >= 95% answered:")
            held, _ = open_loop_max(base, c)
            print(f"  max sustainable open-loop rate: {held or 0:.0f} req/s")
            print(f"  ratio open-loop max / wrk -t1: {(held or 0) / wrk1:.2f}x")
            pct, count, where = sampler_cost(proc.pid, port, args.sampler_seconds)
            print(
                f"sampler at 10 Hz for {args.sampler_seconds:g}s ({where}): {count} samples, "
                f"{pct:.2f}% of one core (target <= 2%)"
            )
        finally:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
