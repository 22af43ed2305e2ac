"""KP701 kernel-oom-memcg: The kernel's OOM killer killed a process at a memory cgroup's limit."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent, LimitScope
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import (
    Verdict,
    cap,
    drill_hint,
    gomemlimit_hint,
    grows_step,
    held,
    maybe_go,
    mib,
    nothing_killed,
    victim,
    where,
)

CAUSE = Cause.KERNEL_OOM_MEMCG


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    if not e.killed and e.pid is None:
        return nothing_killed(e)
    cgroup = f"memory cgroup {e.oom_memcg}" if e.oom_memcg else "its memory cgroup"
    limit = f"its limit of {mib(e.limit_kb)}" if e.limit_kb else "its limit"
    usage = f" (usage {mib(e.usage_kb)}" if e.usage_kb is not None else ""
    if usage:
        usage += f", the limit was hit {e.failcnt} times)" if e.failcnt else ")"
    workload = f" ({where(e)})" if where(e) else ""
    text = (
        f"The kernel's OOM killer killed {victim(e)}{workload} because {cgroup} "
        f"reached {limit}{usage}. {held(e)}"
    )
    if e.limit_scope is LimitScope.ANCESTOR:
        text += (
            f" The limit hit belongs to {e.oom_memcg}, an ancestor of the victim's own cgroup "
            f"{e.task_memcg}: in Kubernetes that is the pod's limit, not the container's — "
            "the other containers of the pod count against it too."
        )
    if e.invoker_pid is not None and e.invoker_pid != e.pid:
        text += (
            f" (The allocation that triggered it came from task {e.invoker_pid}"
            f"{' ' + e.invoker_process if e.invoker_process else ''}; that is not the victim.)"
        )
    go = (
        (
            f"For a Go service, {gomemlimit_hint(e.limit_kb)} so the garbage collector works "
            "harder before the wall instead of the kernel killing the process.",
        )
        if maybe_go(e)
        else ()
    )
    steps = (
        grows_step(e),
        *go,
        "If the memory is really needed, raise the limit and the request together "
        "(`killproof drill --memory SIZE` measures what the service needs).",
        drill_hint(e.limit_kb),
    )
    at = f"the {e.oom_memcg} memory limit" if e.oom_memcg else "a memory cgroup's limit"
    return Verdict(cap(f"{victim(e)} OOM-killed at {at}"), text.strip(), steps)


RULE = verdict_rule(
    "KP701",
    "kernel-oom-memcg",
    CAUSE,
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
    verdict=verdict,
)
