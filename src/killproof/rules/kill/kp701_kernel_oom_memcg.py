"""KP701 kernel-oom-memcg: The kernel's OOM killer killed a process at a memory cgroup's limit."""

from __future__ import annotations

from killproof.facts.kill import Cause
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule

RULE = verdict_rule(
    "KP701",
    "kernel-oom-memcg",
    Cause.KERNEL_OOM_MEMCG,
    "The kernel's OOM killer killed a process at a memory cgroup's limit.",
    RuleDocs(
        what="A kernel OOM report whose scope is a memory cgroup: the `Memory cgroup out of memory` prefix, `constraint=CONSTRAINT_MEMCG`, an `oom_memcg=` path, a `memory: usage …, limit …` block or `Task in … killed as a result of limit of …`. The victim is the pid of the `Killed process` line (or `oom-kill:…,pid=`), never the task that invoked the OOM killer.",
        why="A container (or a systemd unit, or any cgroup) has a hard memory limit. When its charged memory reaches the limit and the kernel cannot reclaim enough, it kills the process with the highest badness inside that cgroup: exit status 137, `signal: killed`, `OOMKilled`. Go's garbage collector does not know about the limit unless GOMEMLIMIT says so, so a heap that would shrink after the next GC cycle is killed first.",
        example="```\nMemory cgroup out of memory: Killed process 24649 (orders-leak) total-vm:1701604kB, anon-rss:64896kB, file-rss:6284kB, shmem-rss:0kB, UID:0 pgtables:284kB oom_score_adj:0\n```",
        fix="Find what grows (`killproof check`: KP109, KP110), set GOMEMLIMIT to about 90 % of the limit, and size the limit from a drill (`killproof drill --memory …`).",
        references=(
            "Linux mm/oom_kill.c and mm/memcontrol.c: the OOM report format",
            "https://docs.kernel.org/admin-guide/cgroup-v2.html (memory.max, memory.events)",
        ),
    ),
    bad=(
        Example(
            "evidence",
            "[ 1584.623934] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/orders,task_memcg=/orders,task=orders-leak,pid=24649,uid=0\n[ 1584.623978] Memory cgroup out of memory: Killed process 24649 (orders-leak) total-vm:1701604kB, anon-rss:64896kB, file-rss:6284kB, shmem-rss:0kB, UID:0 pgtables:284kB oom_score_adj:0\n",
        ),
    ),
    good=(Example("evidence", "[ 1584.600000] orders-leak[24649]: listening on 127.0.0.1:8080\n"),),
)
