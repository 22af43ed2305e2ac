"""The drill sampler's CPU cost at 10 Hz, against a naive sampler, on one real Go service.

Usage: ``.venv/bin/python bench/sampler_cpu.py [--seconds 20] [--hz 10]``

Builds ``tests/fixtures/drill/clean`` (it serves ``/metrics`` and ``/debug/pprof``), runs it
in the drill's sandbox (a memory cgroup when root, else the watchdog), then measures this
Python process's CPU time (``time.process_time``: user + system) while each sampler runs alone
for the same wall time:

- killproof's :class:`~killproof.drill.sampler.Sampler`: RSS and cgroup files at ``--hz``,
  PSS at 1 Hz, ``/metrics`` at 2 Hz over one keep-alive connection;
- the naive peer: at ``--hz``, ``psutil`` ``memory_full_info()`` (smaps) plus a new HTTP
  connection for ``/metrics`` parsed with ``prometheus_client`` every tick.

Prints percent of one core for each and the ratio; the target is ≤ 2 % for killproof.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import tempfile
import threading
import time
from pathlib import Path

import psutil

from killproof import gotool
from killproof.drill.ready import ProbeKind, ReadyProbe, check_once, wait_ready
from killproof.drill.sampler import Sampler, SamplerConfig, parse_metrics
from killproof.drill.sandbox import Sandbox, SandboxSpec

REPO = Path(__file__).resolve().parent.parent


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (CLOCK_PROCESS_CPUTIME_ID)."""
    return time.process_time()


def naive(pid: int, port: int, hz: float, stop: threading.Event) -> None:
    """What a first attempt looks like: everything, every tick, new connections."""
    proc = psutil.Process(pid)
    while not stop.wait(1.0 / hz):
        proc.memory_full_info()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/metrics")
        parse_metrics(conn.getresponse().read().decode())
        conn.close()


def metrics_size(port: int) -> int:
    """Bytes of one ``/metrics`` body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    conn.request("GET", "/metrics")
    size = len(conn.getresponse().read())
    conn.close()
    return size


def measure(run: threading.Thread | Sampler, seconds: float) -> float:
    """Percent of one core this process used while ``run`` ran for ``seconds``."""
    before, t0 = cpu_seconds(), time.monotonic()
    run.start()
    time.sleep(seconds)
    used, wall = cpu_seconds() - before, time.monotonic() - t0
    return 100.0 * used / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hz", type=float, default=10.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="killproof-bench-sampler-"))
    binary = gotool.build(REPO / "tests/fixtures/drill/clean", work / "clean", REPO / ".cache")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    # METRICS_PAD: a /metrics body the size of client_golang's default registry.
    env = {"PORT": str(port), "METRICS_PAD": "80"}
    spec = SandboxSpec((str(binary),), 256 << 20, env=env, output_dir=work)
    with Sandbox(spec) as box:
        probe = ReadyProbe(ProbeKind.HTTP, port=port, path="/readyz")
        if not wait_ready(lambda: check_once(probe), box.poll, timeout_s=10).ready:
            raise SystemExit("service did not start")
        size = metrics_size(port)
        idle = measure(threading.Thread(target=time.sleep, args=(0,)), 3.0)
        sampler = Sampler(
            SamplerConfig(limit_bytes=256 << 20, profile_dir=work, rate_hz=args.hz, port=port),
            pid=box.pid, read_cgroup=box.memory_state, t0=box.started_at,
        )  # fmt: skip
        ours = measure(sampler, args.seconds)
        sampler.stop()
        n = len(sampler.samples())
        stop = threading.Event()
        peer_thread = threading.Thread(target=naive, args=(box.pid, port, args.hz, stop))
        peer = measure(peer_thread, args.seconds)
        stop.set()
        peer_thread.join()
    print(f"sandbox: {box.kind.value}; {args.seconds:g}s per sampler at {args.hz:g} Hz; "
          f"/metrics body {size} bytes")  # fmt: skip
    print(f"idle baseline:        {idle:6.2f} % of a core")
    print(f"killproof sampler:    {ours:6.2f} % of a core ({n} samples, {n / args.seconds:.1f}/s)")
    print(f"naive sampler (peer): {peer:6.2f} % of a core")
    verdict = "met" if ours <= 2 else "MISSED"
    print(f"ratio killproof/naive: {ours / peer:.2f}x; target <= 2 % of a core: {verdict}")


if __name__ == "__main__":
    main()
