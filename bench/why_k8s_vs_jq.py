"""Benchmark: killproof's pod-JSON kill evidence reader vs ``jq`` on a large pod list.

Run: ``.venv/bin/python bench/why_k8s_vs_jq.py [--pods 20000] [--runs 3]``

The input (``bench/out/pods-<n>.json``) is ``kubectl get pods -A -o json`` shaped: a List
of pods with two containers each, about 2 % with ``lastState.terminated`` OOMKilled/137,
1 % Error/137 and 0.5 % Error/143, the rest running or cleanly completed. killproof
(:func:`detect_document` + :func:`parse_document`: validation, line-tracking read, events
with cited lines) and jq (a filter selecting the same terminated states, no line numbers)
each run as a fresh process on the same file from the page cache; median of ``--runs``.
Both must find the same number of kill states.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

JQ_FILTER = (
    "[.items[].status | ((.initContainerStatuses // []) + (.containerStatuses // []))[]"
    " | (.state.terminated, .lastState.terminated) | select(. != null)"
    ' | select(.reason == "OOMKilled" or .exitCode == 137 or .exitCode == 143)] | length'
)
KILLPROOF = (
    "import sys\n"
    "from killproof.sources.k8s import detect_document, parse_document\n"
    "path = sys.argv[1]\n"
    "doc = detect_document(open(path).read(), path)\n"
    "print(len(parse_document(doc, path)))\n"
)


def terminated(rng: random.Random, i: int) -> dict[str, object] | None:
    roll = rng.random()
    if roll < 0.02:
        reason, code = "OOMKilled", 137
    elif roll < 0.03:
        reason, code = "Error", 137
    elif roll < 0.035:
        reason, code = "Error", 143
    elif roll < 0.10:
        reason, code = "Completed", 0
    else:
        return None
    return {
        "containerID": f"containerd://{i:064x}",
        "exitCode": code,
        "finishedAt": "2026-11-26T16:00:00Z",
        "reason": reason,
        "startedAt": "2026-11-26T15:00:00Z",
    }


def generate(pods: int, path: Path) -> None:
    rng = random.Random(7)
    items = []
    for i in range(pods):
        statuses = []
        for name in ("app", "envoy"):
            last = terminated(rng, i)
            statuses.append(
                {
                    "containerID": f"containerd://{i:060x}{name}",
                    "image": f"registry.example.com/shop/{name}:1.{i % 50}",
                    "imageID": f"registry.example.com/shop/{name}@sha256:{i:064x}",
                    "lastState": {"terminated": last} if last else {},
                    "name": name,
                    "ready": True,
                    "restartCount": 1 if last else 0,
                    "started": True,
                    "state": {"running": {"startedAt": "2026-11-26T16:00:05Z"}},
                }
            )
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"svc-{i % 400}-7d9f8b6c5-{i:05x}",
                    "namespace": f"team-{i % 37}",
                    "labels": {"app": f"svc-{i % 400}", "pod-template-hash": "7d9f8b6c5"},
                    "uid": f"{i:08x}-0000-4000-8000-000000000000",
                },
                "spec": {
                    "containers": [
                        {"name": "app", "image": "x", "resources": {"limits": {"memory": "256Mi"}}},
                        {"name": "envoy", "image": "y"},
                    ],
                    "nodeName": f"node-{i % 60}",
                },
                "status": {
                    "conditions": [
                        {"type": t, "status": "True", "lastTransitionTime": "2026-11-26T15:00:00Z"}
                        for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
                    ],
                    "containerStatuses": statuses,
                    "hostIP": "10.0.0.1",
                    "phase": "Running",
                    "podIP": "10.244.0.1",
                    "qosClass": "Burstable",
                    "startTime": "2026-11-26T15:00:00Z",
                },
            }
        )
    doc = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    path.write_text(json.dumps(doc, indent=4) + "\n")


def timed(argv: list[str], runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        out = proc.stdout.strip()
    return statistics.median(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    jq = shutil.which("jq")
    if jq is None:
        print("jq not found on PATH (apt-get install jq)", file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)
    path = OUT / f"pods-{args.pods}.json"
    if not path.exists():
        generate(args.pods, path)
    size_mb = path.stat().st_size / 2**20
    version = subprocess.run([jq, "--version"], capture_output=True, text=True, check=False)
    jq_version = version.stdout.strip() or "jq"
    kp_s, kp_out = timed([sys.executable, "-c", KILLPROOF, str(path)], args.runs)
    jq_s, jq_out = timed([jq, JQ_FILTER, str(path)], args.runs)
    if kp_out != jq_out:
        print(f"MISMATCH: killproof found {kp_out} kill states, jq {jq_out}", file=sys.stderr)
        return 1
    print(f"input: {path.name} ({args.pods} pods, {size_mb:.1f} MiB), {kp_out} kill states")
    print(f"killproof (events + cited lines): {kp_s:.2f} s  ({size_mb / kp_s:.1f} MiB/s)")
    print(f"{jq_version} (count only):        {jq_s:.2f} s  ({size_mb / jq_s:.1f} MiB/s)")
    print(f"ratio killproof/jq: {kp_s / jq_s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
