"""facebook oomd kill lines → USERSPACE_OOM_OTHER events."""

from __future__ import annotations

from killproof.facts.kill import Cause
from killproof.sources.oomd import OomdParser


def feed(text: str) -> list[tuple[Cause, int | None, str | None, bool, str | None]]:
    parser = OomdParser("oomd.log")
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        for e in parser.feed(n, line):
            out.append((e.cause, e.pid, e.process, e.killed, e.task_memcg))
    return out


def test_killed_pids_carry_the_cgroup_of_the_preceding_attempt() -> None:
    log = (
        "oomd[700]: Trying to kill /sys/fs/cgroup/system.slice/orders.service\n"
        "oomd[700]: memory.stat for system.slice/orders.service: \n"
        "oomd[700]: Killed 2: 4242(orders) 4243(orders-worker)[E1]\n"
    )
    assert feed(log) == [
        (Cause.USERSPACE_OOM_OTHER, 4242, "orders", True, "/system.slice/orders.service"),
        (Cause.USERSPACE_OOM_OTHER, 4243, "orders-worker", False, "/system.slice/orders.service"),
    ]


def test_kmsg_record_names_cgroup_and_usage_and_kernel_lines_are_ignored() -> None:
    log = (
        "[ 10.0] oomd kill: 0.52 0.40 0.31 system.slice/orders.service 734003200 "
        "ruleset:[protect] detectorgroup:[pressure] killer:kill_by_memory_size_or_growth v2\n"
        "[ 11.0] Memory cgroup out of memory: Killed process 24649 (orders-leak) total-vm:1kB\n"
        "Killed 1: 99(x)\n"
    )
    assert feed(log) == [
        (Cause.USERSPACE_OOM_OTHER, None, None, True, "/system.slice/orders.service")
    ]
