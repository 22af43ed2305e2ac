"""KP703 kernel-oom-unknown-scope: The kernel's OOM killer killed a process; the evidence does not say which limit was hit."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, cap, held, nothing_killed, victim

CAUSE = Cause.KERNEL_OOM_UNKNOWN_SCOPE


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    if not e.killed and e.pid is None:
        return nothing_killed(e)
    text = (
        f"The kernel's OOM killer killed {victim(e)}, but the evidence does not show whether a "
        f"cgroup limit or the whole machine ran out. {held(e)}"
    )
    given = e.invoker_pid is not None or bool(e.top_tasks) or e.constraint is not None
    first = (
        "This kernel's report prints no scope line (no 'oom-kill:constraint=', no 'Memory "
        "cgroup out of memory'): the lines just before the task table (a 'Task in … killed "
        "as a result of limit of …' line or a 'memory: usage … limit …' block) tell a cgroup "
        "limit from a machine-wide OOM."
        if given
        else "Collect the full kernel report, from 'invoked oom-killer' to 'Killed process': "
        "`journalctl -k --since … ` or `dmesg -T`, and run `killproof why` on it."
    )
    steps = (
        first,
        "On the host, the cgroup's counters say whether its own limit was hit: "
        "`killproof why --cgroup PATH` (memory.events / memory.oom_control).",
    )
    return Verdict(cap(f"{victim(e)} killed by the kernel OOM killer"), text.strip(), steps)


RULE = verdict_rule(
    "KP703",
    "kernel-oom-unknown-scope",
    CAUSE,
    "The kernel's OOM killer killed a process; the evidence does not say which limit was hit.",
    RuleDocs(
        what="A kernel `Killed process` line (or a systemd `A process of this unit has been killed by the OOM killer`) without anything that tells a cgroup OOM from a machine-wide one.",
        why="The fix depends on the scope: a cgroup limit that is too small for the service, or a node that is overcommitted. Without the full report (or the cgroup's counters) the two look the same.",
        example="```\nKilled process 7781 (worker) total-vm:812000kB, anon-rss:650000kB, file-rss:900kB\n```",
        fix="Collect the whole OOM report (from `invoked oom-killer` to `Killed process`) or the cgroup's memory.events / memory.oom_control, and run `killproof why` on it.",
        references=("Linux mm/oom_kill.c: dump_header and the victim line",),
    ),
    bad=(
        Example(
            "evidence",
            "Killed process 7781 (worker) total-vm:812000kB, anon-rss:650000kB, file-rss:900kB\n",
        ),
    ),
    good=(Example("evidence", "worker: started 12 goroutines\n"),),
    verdict=verdict,
)
