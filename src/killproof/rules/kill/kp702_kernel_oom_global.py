"""KP702 kernel-oom-global: The kernel's OOM killer killed a process because the whole machine ran out of memory."""

from __future__ import annotations

from killproof.facts.kill import Cause
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule

RULE = verdict_rule(
    "KP702",
    "kernel-oom-global",
    Cause.KERNEL_OOM_GLOBAL,
    "The kernel's OOM killer killed a process because the whole machine ran out of memory.",
    RuleDocs(
        what="A kernel OOM report with a machine-wide scope: the `Out of memory:` prefix, `constraint=CONSTRAINT_NONE`, `global_oom` in the `oom-kill:` line, or a `Mem-Info` dump.",
        why="When the node itself runs out of memory, no container's limit was reached: the kernel picks the process with the highest badness anywhere on the machine. Pods whose requests understate their use let the scheduler overcommit the node, and the victim is often not the process that grew.",
        example="```\nOut of memory: Killed process 3120 (api) total-vm:2300000kB, anon-rss:1800000kB, file-rss:1200kB, shmem-rss:0kB, UID:1000 pgtables:4000kB oom_score_adj:0\n```",
        fix="Set memory requests to real usage and give every container a memory limit (`killproof check`: KP201, KP202, KP203); look at the largest processes in the task table.",
        references=(
            "Linux mm/oom_kill.c (constraint, global_oom)",
            "https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/",
        ),
    ),
    bad=(
        Example(
            "evidence",
            "[ 9981.100000] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/api.service,task=api,pid=3120,uid=1000\n[ 9981.100100] Out of memory: Killed process 3120 (api) total-vm:2300000kB, anon-rss:1800000kB, file-rss:1200kB, shmem-rss:0kB, UID:1000 pgtables:4000kB oom_score_adj:0\n",
        ),
    ),
    good=(Example("evidence", "[ 9981.100000] api[3120]: GC forced\n"),),
)
