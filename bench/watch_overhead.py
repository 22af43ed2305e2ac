"""`killproof watch`'s cost: CPU per watched process per sample, and its own RSS over a soak.

Usage: ``.venv/bin/python bench/watch_overhead.py [--targets 50] [--seconds 600] [--hz 1]``

Starts ``--targets`` real processes (``sleep``, each in its own memory cgroup when root, so
the cgroup files are read too), then runs, for each of them, what one watch sample does —
the drill's :class:`~killproof.drill.sampler.Sampler` (``sample_once``: RSS, cgroup usage,
limit and events; PSS once a minute), the online leak judge and the triggers — at ``--hz``
for ``--seconds``. Prints the CPU time per watched process per sample, what 50 processes
at 1 Hz cost as a share of one core (target ≤ 1 %), and this process's RSS at the start,
quarters and end: it grows while the ring buffers fill (``--window``) and the judges' bins
(5 min), then stays flat.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from killproof.analysis.leak_online import OnlineLeakJudge
from killproof.drill import cgroup
from killproof.drill.sampler import Sampler
from killproof.watch.run import WatchSettings, watch_judge_settings, watch_sampler_config
from killproof.watch.target import Target, TargetSpec
from killproof.watch.triggers import Reading, Triggers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--hz", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=600.0, help="watch --window (s)")
    args = parser.parse_args()
    root = cgroup.find_root()
    groups: list[cgroup.MemoryCgroup] = []
    procs: list[subprocess.Popen[bytes]] = []
    settings = WatchSettings(TargetSpec(), Path(tempfile.mkdtemp()), interval_s=1 / args.hz,
                             window_s=args.window)  # fmt: skip
    try:
        watched = []
        for _ in range(args.targets):
            proc = subprocess.Popen(["sleep", str(args.seconds + 60)])
            procs.append(proc)
            where = None
            if root is not None:
                group = cgroup.create(root, 256 << 20)
                groups.append(group)
                for f in group.procs_files():
                    f.write_text(str(proc.pid))
                where = group.memory_dir
            target = Target(proc.pid, where)
            sampler = Sampler(watch_sampler_config(settings), proc.pid, target.memory_state,
                              t0=time.monotonic())  # fmt: skip
            watched.append((target, sampler, OnlineLeakJudge(256 << 20,
                            watch_judge_settings(settings)), Triggers()))  # fmt: skip
        me = psutil.Process()
        rss = [me.memory_info().rss]
        cpu0, t0 = time.process_time(), time.monotonic()
        ticks = round(args.seconds * args.hz)
        for tick in range(ticks):
            for _target, sampler, judge, triggers in watched:
                sample = sampler.sample_once(tick)
                used = sample.memory_bytes
                signal = judge.observe(sample.t_s, float(used)) if used is not None else None
                triggers.fire(sample.t_s, Reading(used, 256 << 20), signal)
            if tick in (ticks // 4, ticks // 2, 3 * ticks // 4):
                rss.append(me.memory_info().rss)
            time.sleep(max(0.0, t0 + (tick + 1) / args.hz - time.monotonic()))
        cpu = time.process_time() - cpu0
        rss.append(me.memory_info().rss)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for g in groups:
            with contextlib.suppress(OSError):
                g.remove()
    samples = ticks * args.targets
    per_sample_ms = 1000 * cpu / samples
    share_50 = 100 * 50 * 1.0 * per_sample_ms / 1000
    print(f"{args.targets} targets ({'memory cgroups' if root else 'no cgroup'}), "
          f"{args.hz:g} Hz, {args.seconds:g} s: {samples} samples, {cpu:.2f} CPU-s")  # fmt: skip
    print(f"CPU per watched process per sample: {per_sample_ms:.3f} ms")
    print(f"50 processes at 1 Hz: {share_50:.2f} % of one core (target <= 1 %)")
    print(
        f"watcher RSS at 0, 1/4, 1/2, 3/4 and all of the run (window {args.window:g} s): "
        + " / ".join(f"{r / 2**20:.1f} MiB" for r in rss)
    )


if __name__ == "__main__":
    main()
