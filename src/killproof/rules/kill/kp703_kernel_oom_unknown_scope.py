"""KP703 kernel-oom-unknown-scope: The kernel's OOM killer killed a process; the evidence does not say which limit was hit."""

from __future__ import annotations

from killproof.facts.kill import Cause
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule

RULE = verdict_rule(
    "KP703",
    "kernel-oom-unknown-scope",
    Cause.KERNEL_OOM_UNKNOWN_SCOPE,
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
)
