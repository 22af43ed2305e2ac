"""Benchmark: killproof's kernel-log scan vs ``grep -F 'Killed process'`` on a ≥ 1 GB journal.

Run: ``.venv/bin/python bench/why_vs_grep.py [--size-mb 1100] [--runs 3]``

The journal (``bench/out/journal-<size>.log``) is generated once and reused: journalctl
``short`` lines of systemd, kubelet, containerd, sshd, cron and ordinary kernel messages,
with five complete kernel OOM reports (container limit, pod-level ancestor limit, global)
at known places, other daemons' lines interleaved as journalctl shows them. Both tools
read the same file from the page cache; each is timed as a fresh process (interpreter
start-up included), median of ``--runs``. The scan's events are checked against the
pids that were planted.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from killproof.sources.prefilter import Tool, best, find

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PY = sys.executable

NOISE = (
    "systemd[1]: Started session-{n}.scope - Session {n} of User root.",
    "systemd[1]: session-{n}.scope: Deactivated successfully.",
    "systemd-logind[612]: New session {n} of user deploy.",
    "sshd[{p}]: Accepted publickey for deploy from 127.0.0.1 port {n} ssh2: ED25519 SHA256:"
    "u6yUq1bZp0xq3GQyY7m3b5o0d0sYvDkq2dE1rHq9x4c",
    'kubelet[1042]: I1126 16:00:01.123456    1042 kubelet.go:2410] "SyncLoop (PLEG): event for '
    'pod" pod="shop/orders-7d9f8b6c5d-x{n}" event={{"ID":"0d3c","Type":"ContainerStarted"}}',
    'kubelet[1042]: I1126 16:00:01.223456    1042 prober.go:107] "Probe failed" probeType='
    '"Readiness" pod="shop/cart-{n}" podUID="4c1f" containerName="cart" probeResult="failure"',
    'containerd[815]: time="2026-11-26T16:00:01.323456789Z" level=info msg="StartContainer for'
    ' \\"{p}abcdef\\" returns successfully"',
    "CRON[{p}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
    "kernel: IPv6: ADDRCONF(NETDEV_CHANGE): veth{n}: link becomes ready",
    "kernel: cni0: port {n}(veth{n}) entered forwarding state",
    "kernel: EXT4-fs (vda1): re-mounted {n}. Quota mode: none.",
    'kernel: audit: type=1400 audit({p}.123:{n}): apparmor="DENIED" operation="open" '
    'profile="cri-containerd.apparmor.d" name="/proc/{n}/mem" pid={p} comm="node"',
    'dockerd[901]: time="2026-11-26T16:00:01Z" level=warning msg="cleaning up after shim '
    'disconnected" id={p} namespace=moby',
    "systemd[1]: Stopping user-runtime-dir@{n}.service - User Runtime Directory /run/user/{n}...",
    "node-exporter[700]: ts=2026-11-26T16:00:01.000Z caller=collector.go:169 level=error "
    'collector=hwmon msg="collector failed" err="open /sys/class/hwmon/hwmon{n}: no such file"',
)


def oom_report(pid: int, scope: str) -> list[str]:
    """One kernel OOM report as journalctl prints it (``kernel:`` lines), 6.x format."""
    oom_memcg, task_memcg, prefix = {
        "own": (
            f"/kubepods/pod{pid}/app",
            f"/kubepods/pod{pid}/app",
            "Memory cgroup out of memory",
        ),
        "pod": (f"/kubepods/pod{pid}", f"/kubepods/pod{pid}/app", "Memory cgroup out of memory"),
        "host": (None, f"/kubepods/pod{pid}/app", "Out of memory"),
    }[scope]
    k = "kernel: "
    lines = [
        f"{k}orders invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        f"{k}CPU: 1 UID: 0 PID: {pid + 4} Comm: orders Not tainted 6.18.44 #1 PREEMPT(none)",
        f"{k}Call Trace:",
        f"{k} <TASK>",
        f"{k} dump_stack_lvl+0x57/0x80",
        f"{k} out_of_memory+0x214/0x500",
        "systemd[1]: Started session-99.scope - Session 99 of User root.",  # interleaved
        f"{k} </TASK>",
    ]
    if oom_memcg:
        lines += [
            f"{k}memory: usage 65536kB, limit 65536kB, failcnt 59",
            f"{k}swap: usage 0kB, limit 9007199254740988kB, failcnt 0",
            f"{k}Memory cgroup stats for {oom_memcg}:",
            f"{k}anon 66646016",
        ]
    else:
        lines += [f"{k}Mem-Info:", f"{k}active_anon:5994 inactive_anon:4001111 isolated_anon:0"]
    lines += [
        f"{k}Tasks state (memory values in pages):",
        f"{k}[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes"
        " swapents oom_score_adj name",
        f"{k}[{pid:>7}]     0 {pid:>5}   425401    17795    16224     1571         0   290816"
        "        0             0 orders",
        f"{k}[{pid + 1:>7}]     0 {pid + 1:>5}     1000      300      200      100         0"
        "    40960        0          -998 pause",
    ]
    memcg = f"oom_memcg={oom_memcg}" if oom_memcg else "global_oom"
    lines += [
        f"{k}oom-kill:constraint={'CONSTRAINT_MEMCG' if oom_memcg else 'CONSTRAINT_NONE'},"
        f"nodemask=(null),cpuset=/,mems_allowed=0,{memcg},task_memcg={task_memcg},"
        f"task=orders,pid={pid},uid=0",
        f"{k}{prefix}: Killed process {pid} (orders) total-vm:1701604kB, anon-rss:64896kB, "
        "file-rss:6284kB, shmem-rss:0kB, UID:0 pgtables:284kB oom_score_adj:0",
        "sshd[77]: Accepted publickey for deploy from 127.0.0.1 port 4242 ssh2",
        f"{k}oom_reaper: reaped process {pid} (orders), now anon-rss:0kB, file-rss:0kB, "
        "shmem-rss:0kB",
    ]
    return lines


def generate(path: Path, size_mb: int, planted: list[tuple[int, str]]) -> None:
    """Write the journal: ordinary lines with the OOM reports spread through it."""
    rng = random.Random(42)
    bodies = [
        rng.choice(NOISE).format(n=rng.randrange(1, 99999), p=rng.randrange(100, 4_000_000))
        for _ in range(20000)
    ]
    target = size_mb * 1_000_000
    every = target // (len(planted) + 1)
    next_plant, plant_index = every, 0
    written = 0
    start = 1_795_000_000  # 2026-11-18
    second = 0
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        while written < target:
            stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(start + second))
            prefix = f"{stamp} node-7 "
            batch = [prefix + bodies[(second * 37 + i) % len(bodies)] for i in range(400)]
            if written >= next_plant and plant_index < len(planted):
                pid, scope = planted[plant_index]
                batch += [prefix + line for line in oom_report(pid, scope)]
                plant_index += 1
                next_plant += every
            text = "\n".join(batch) + "\n"
            out.write(text)
            written += len(text)
            second += 1
    tmp.rename(path)


@dataclass
class Contender:
    """One command to time, with its wall and CPU (user+sys, children included) per run."""

    label: str
    cmd: list[str]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    out: str = ""

    def run(self) -> None:
        """One timed run; stdout to a real file (GNU grep stops at the first match when it
        sees /dev/null)."""
        with tempfile.TemporaryFile() as sink:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(self.cmd, stdout=sink, stderr=subprocess.DEVNULL, check=False)
            self.walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            self.cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            sink.seek(0)
            self.out = sink.read().decode("utf-8", "replace")

    @property
    def wall(self) -> float:
        """Median wall time, seconds."""
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        """Median CPU time, seconds."""
        return statistics.median(self.cpus)


SCAN = """
import sys
from killproof.sources.kernel import KernelOomParser
from killproof.sources.logscan import Prefilter, scan_path
events = list(scan_path(sys.argv[1], [KernelOomParser(sys.argv[1])], Prefilter(sys.argv[2])))
print(" ".join(f"{e.pid}:{e.limit_scope.value if e.limit_scope else None}" for e in events))
"""


def main() -> int:
    """Generate (or reuse) the journal, time both tools, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--python-fallback", action="store_true", help="also time the pure-Python scan"
    )
    args = parser.parse_args()
    planted = [(41001, "own"), (42002, "pod"), (43003, "host"), (44004, "own"), (45005, "pod")]
    expected = "41001:own 42002:ancestor 43003:host 44004:own 45005:ancestor"
    OUT.mkdir(exist_ok=True)
    path = OUT / f"journal-{args.size_mb}mb.log"
    if not path.exists():
        t0 = time.perf_counter()
        generate(path, args.size_mb, planted)
        print(f"generated {path} in {time.perf_counter() - t0:.1f} s")
    size = path.stat().st_size
    grep = shutil.which("grep") or "grep"
    subprocess.run(
        [grep, "-c", "-F", "Killed process", str(path)], capture_output=True, check=False
    )
    print(f"file: {path} ({size / 1e9:.2f} GB), cores: {os.cpu_count()}, runs: {args.runs}")

    auto = best()
    print(f"AUTO prefilter here: {auto.tool.value if auto else 'python'}")
    peer = Contender("grep -F 'Killed process'", [grep, "-F", "Killed process", str(path)])
    contenders = [peer]
    modes: list[tuple[str, Tool | None]] = [("rg", Tool.RIPGREP), ("grep", Tool.GREP)]
    if args.python_fallback:
        modes.append(("python", None))
    for mode, tool in modes:
        if tool is not None and find(tool) is None:
            print(f"killproof scan ({mode} prefilter): not installed")
            continue
        contenders.append(
            Contender(f"killproof scan ({mode} prefilter)", [PY, "-c", SCAN, str(path), mode])
        )
    cli = Path(PY).parent / "killproof"
    why = [str(cli), "why", str(path), "--format", "json"]
    probe = subprocess.run(why, capture_output=True, check=False) if cli.exists() else None
    if probe is not None and probe.returncode in (0, 1) and probe.stdout:
        contenders.append(Contender("killproof why --format json", why))
    else:
        print("killproof why: not timed (CLI missing or failing)")
    # rounds interleave the tools, so that load from elsewhere hits them alike
    for _ in range(args.runs):
        for contender in contenders:
            contender.run()
    print(f"{'':34} {'wall':>7} {'ratio':>6} {'cpu':>7} {'ratio':>6}")
    for c in contenders:
        if c is peer:
            note = f"({c.out.count(chr(10))} lines)"
        elif c.cmd is why:
            found = sum(str(pid) in c.out for pid, _ in planted)
            note = f"({found}/{len(planted)} planted pids in output)"
        else:
            note = "ok" if c.out.strip() == expected else f"WRONG: {c.out.strip()!r}"
        print(
            f"{c.label:34} {c.wall:6.2f}s {c.wall / peer.wall:5.2f}x "
            f"{c.cpu:6.2f}s {c.cpu / peer.cpu:5.2f}x  {note}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
