"""KP702 kernel-oom-global: The kernel's OOM killer killed a process because the whole machine ran out of memory."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, cap, held, mib, nothing_killed, victim

CAUSE = Cause.KERNEL_OOM_GLOBAL


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    if not e.killed and e.pid is None:
        return nothing_killed(e)
    text = (
        f"The whole machine ran out of memory and the kernel's OOM killer chose {victim(e)}"
        f"{f' (oom_score_adj {e.oom_score_adj})' if e.oom_score_adj is not None else ''}. "
        f"No cgroup limit was hit. {held(e)}"
    )
    if e.task_memcg and e.task_memcg != "/":
        text += (
            f" The victim ran in cgroup {e.task_memcg}; its own limit was not the one "
            "reached — the node as a whole was overcommitted."
        )
    if e.top_tasks:
        top = ", ".join(f"{t.name} ({t.pid}) {mib(t.rss_kb)}" for t in e.top_tasks[:3])
        text += f" Largest resident processes in the report: {top}."
    steps: tuple[str, ...] = (
        "Set memory requests to what each workload really uses so the scheduler cannot "
        "overcommit the node (`killproof check`: KP201, KP202, KP203).",
        "Give every container a memory limit so a runaway process dies alone, at its own "
        "limit, instead of taking a neighbour with it.",
    )
    if e.top_tasks:
        steps += (
            "Check the largest processes in the task table above: the victim is not always "
            "the one that grew.",
        )
    return Verdict(cap(f"{victim(e)} killed by a machine-wide OOM"), text.strip(), steps)


RULE = verdict_rule(
    "KP702",
    "kernel-oom-global",
    CAUSE,
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
    verdict=verdict,
)
