"""Benchmark: ``killproof fleet`` on 5,000 pods' week in a real Prometheus, vs the same
fleet read the krr way (queries per pod), against the same server in the same run.

Run: ``.venv/bin/python bench/fleet_5000.py [--pods 5000] [--step 3600] [--runs 3]``

The fleet: ``--pods`` pods in 50 namespaces, 5 pods per Deployment (1,000 workloads), a
week of kube-state-metrics, cAdvisor and (on half of them) Go runtime series at ``--step``
seconds; 2 % OOM-looping, 4 % leaking, 10 % spiky (+150 MiB for 3 h a day), the rest
flat (tests/fleet_history.py writes it; promtool backfills it). Timed, median of ``--runs``, each a fresh process:

- ``killproof fleet --prometheus URL --at END -f csv``: wall time to the ranked table
  (start-up, namespace listing, the batched queries, ranking, CSV);
- krr-style: for every pod, the four per-pod queries of
  :func:`killproof.fleet.promql.per_pod_queries` (peak, trend, limit, restarts) with the
  same client and concurrency, then nothing else (no ranking): a lower bound of that way.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fleet_history import (  # noqa: E402
    END,
    MIB,
    Fleet,
    PodHistory,
    backfill,
    have_prometheus,
    prometheus_server,
    wait_for_compaction,
)
from killproof.fleet.prometheus import PrometheusAccess, PrometheusClient  # noqa: E402
from killproof.fleet.promql import Query, Signal, per_pod_queries  # noqa: E402

NAMESPACES = 50
PODS_PER_WORKLOAD = 5


def _flat(base: float, s: float) -> float:
    return base


def _leak(base: float, per_day: float, s: float) -> float:
    return base + per_day * s / 86400


def _spiky(base: float, s: float) -> float:
    return base + (150 * MIB if (s % 86400) < 3 * 3600 else 0.0)


def _ramp(s: float) -> float:
    return 60 * MIB + 190 * MIB * s / 14400


def big_fleet(pods: int, step_s: int) -> Fleet:
    """``pods`` pods, 5 per Deployment, spread over 50 namespaces (see module docstring)."""
    out: list[PodHistory] = []
    workloads = pods // PODS_PER_WORKLOAD
    for w in range(workloads):
        ns = f"team-{w % NAMESPACES:02d}"
        name = f"svc-{w:04d}"
        rs = f"{name}-5d8f7c9b6"
        kind = w % 50
        limit = 512 * MIB
        for i in range(PODS_PER_WORKLOAD):
            base = (120 + (w * 7 + i * 3) % 200) * MIB
            kill_every: float | None = None
            profile = functools.partial(_flat, base)
            if kind == 0:  # 2 %: an OOM loop, killed every 4 h
                profile, kill_every, limit = functools.partial(_ramp), 14400.0, 256 * MIB
            elif kind < 3:  # 4 %: leaking 5–14 MiB/day (still under the limit at the end)
                profile = functools.partial(_leak, base, (5 + w % 10) * MIB)
            elif kind < 8:  # 10 %: a daily spike
                profile = functools.partial(_spiky, base)
            out.append(
                PodHistory(
                    ns, "Deployment", name, f"{rs}-{i:05d}", "app",
                    limit=limit, request=limit // (2 if w % 3 == 0 else 1),
                    working_set=profile, kill_every_s=kill_every,
                    go=w % 2 == 0, gomemlimit=None if w % 4 == 0 else 400 * MIB,
                    replicaset=rs,
                )
            )  # fmt: skip
    return Fleet(out, step_s=step_s)


def time_fleet(url: str, fleet: Fleet) -> tuple[float, int]:
    """Seconds to the ranked CSV from a fresh process, and the rows it ranked; checks that
    the OOM-looping workloads are the top of the ranking."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "killproof.cli", "fleet", "--prometheus", url,
         "--at", str(END), "-f", "csv"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    looping = {f"{p.namespace}/Deployment/{p.workload}" for p in fleet.pods if p.kill_every_s}
    top = {r["workload"] for r in rows[: len(looping)]}
    if top != looping:
        raise SystemExit(f"ranking wrong: top {len(looping)} are not the OOM loops")
    return elapsed, len(rows)


async def _per_pod(url: str, fleet: Fleet, concurrency: int) -> tuple[int, int]:
    queries = [
        Query(Signal.WS_PEAK, text, (p.namespace,))
        for p in fleet.pods
        for text in per_pod_queries(p.namespace, p.pod, "7d")
    ]
    access = PrometheusAccess(url, concurrency=concurrency, timeout_s=120)
    async with PrometheusClient(access) as client:
        answers = await client.run_all(queries, float(END))
    return len(queries), len(answers.failures)


def time_per_pod(url: str, fleet: Fleet, concurrency: int) -> tuple[float, int, int]:
    """Seconds for the krr-style per-pod queries, how many, how many failed."""
    started = time.perf_counter()
    sent, failed = asyncio.run(_per_pod(url, fleet, concurrency))
    return time.perf_counter() - started, sent, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--step", type=int, default=3600, help="sample step (s)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if not have_prometheus():
        print("needs Debian's prometheus and promtool", file=sys.stderr)
        return 2
    fleet = big_fleet(args.pods, args.step)
    with tempfile.TemporaryDirectory(prefix="killproof-fleet-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        data = backfill(fleet, work)
        print(f"backfill: {len(fleet.pods)} pods, {len(fleet.times())} samples per series, "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        with prometheus_server(data, work) as url:
            waited = wait_for_compaction(data)
            print(f"compaction: {waited:.0f} s (blocks as on a server that ran for the week)")
            time_fleet(url, fleet)  # warm the page cache and Prometheus' postings once, untimed
            fleet_runs = [time_fleet(url, fleet) for _ in range(args.runs)]
            pod_runs = [time_per_pod(url, fleet, args.concurrency) for _ in range(args.runs)]
    fleet_s = statistics.median(s for s, _ in fleet_runs)
    pods_s = statistics.median(s for s, _, _ in pod_runs)
    print(
        f"killproof fleet: {fleet_s:.2f} s to the ranked table "
        f"({fleet_runs[0][1]} workloads; runs {', '.join(f'{s:.2f}' for s, _ in fleet_runs)})"
    )
    print(
        f"krr-style per-pod: {pods_s:.2f} s for {pod_runs[0][1]} queries "
        f"({pod_runs[0][2]} failed; runs {', '.join(f'{s:.2f}' for s, _, _ in pod_runs)})"
    )
    print("ranking: the OOM-looping workloads are the top rows (checked every run)")
    print(f"ratio per-pod / fleet: {pods_s / fleet_s:.1f}x (target: fleet < 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
