"""Plain-language verdicts: who killed what, why, with what memory against what limit,
and what to do next. Pure functions of a :class:`KillEvent`."""

from __future__ import annotations

from dataclasses import dataclass

from killproof.facts.kill import Cause, KillEvent, LimitScope


@dataclass(frozen=True)
class Verdict:
    """The human side of one event: a headline, the explanation and the next steps."""

    headline: str
    explanation: str
    next_steps: tuple[str, ...]


# Programs that are certainly not Go (by comm, the kernel's 15-character name): Go-specific
# advice (GOMEMLIMIT, goroutines, signal.NotifyContext) is given only to the rest.
_NOT_GO = (
    "java",
    "python",
    "qemu",
    "postgres",
    "postmaster",
    "mysqld",
    "mariadbd",
    "mongod",
    "redis-server",
    "node",
    "ruby",
    "php",
    "perl",
    "dotnet",
    "chrome",
    "chromium",
    "firefox",
    "electron",
    "code",
    "bash",
    "sh",
    "zsh",
    "beam.smp",
    "Xorg",
    "gnome-shell",
    "cc1",
    "cc1plus",
    "rustc",
    "gcc",
    "ld",
    "stress",
    "stress-ng",
    "nginx",
    "httpd",
    "apache2",
    "memcached",
    "clickhouse",
    "elasticsearch",
    "systemd",
)


def maybe_go(e: KillEvent) -> bool:
    """True unless the victim is known to be something other than a Go program."""
    if not e.process:
        return True
    name = e.process.split()[0].rsplit("/", 1)[-1].lower()
    return not any(
        name == n or name.startswith((n + "-", n + ".", n + "3", n + "2")) for n in _NOT_GO
    )


def _cap(text: str) -> str:
    """A sentence starts with a capital (``a process …`` → ``A process …``); a process or
    unit name is never changed (``orders-leak`` stays as the kernel printed it)."""
    return text[:1].upper() + text[1:] if text.startswith(("a ", "an ")) else text


def _grows_step(e: KillEvent) -> str:
    if maybe_go(e):
        return (
            "Find what grows: `killproof check` flags unbounded caches (KP109), unbounded "
            "goroutines (KP110) and a missing GOMEMLIMIT (KP211)."
        )
    return (
        f"Find what grows in {e.process}: its own heap or cache settings (a JVM's -Xmx, a "
        "database's buffers, a VM's guest memory) against the limit, or a leak."
    )


def mib(kb: int | None) -> str:
    """``65536`` kB → ``64.0 MiB`` (``?`` when unknown)."""
    if kb is None:
        return "?"
    return f"{kb / 1024:.1f} MiB"


def victim(e: KillEvent) -> str:
    """``orders-leak (pid 24649)``, or what is known of the victim."""
    name = e.process or e.container or e.unit or "a process"
    if e.pid is not None:
        return f"{name} (pid {e.pid})"
    return name


def where(e: KillEvent) -> str:
    """The workload the victim belonged to: pod/container, unit, host."""
    parts = []
    if e.pod:
        pod = f"{e.namespace}/{e.pod}" if e.namespace else e.pod
        parts.append(f"container {e.container} of pod {pod}" if e.container else f"pod {pod}")
    if e.unit:
        parts.append(f"unit {e.unit}")
    if e.host:
        parts.append(f"on {e.host}")
    return ", ".join(parts)


def _memory(e: KillEvent) -> str:
    held = []
    if e.anon_rss_kb is not None:
        held.append(f"{mib(e.anon_rss_kb)} anonymous")
    if e.file_rss_kb is not None:
        held.append(f"{mib(e.file_rss_kb)} file-backed")
    if e.shmem_rss_kb:
        held.append(f"{mib(e.shmem_rss_kb)} shared")
    return f"The victim held {' + '.join(held)} memory." if held else ""


def _gomemlimit_hint(limit_kb: int | None) -> str:
    if limit_kb is None:
        return "set GOMEMLIMIT to about 90 % of the memory limit"
    return f"set GOMEMLIMIT={int(limit_kb * 0.9 / 1024)}MiB (90 % of the {mib(limit_kb)} limit)"


def _drill_hint(limit_kb: int | None) -> str:
    memory = f"{limit_kb // 1024}Mi" if limit_kb else "<limit>"
    return (
        f"Reproduce it before the next deploy: `killproof drill --memory {memory} -- ./service` "
        "runs the binary under the same limit, loads it, and names the allocation site that "
        "grows (or proves the fix holds)."
    )


def _no_victim_line(e: KillEvent) -> str:
    """What a kernel report cut before its ``Killed process`` line cannot say."""
    if e.pid is not None or not e.killed:
        return ""
    return (
        "The excerpt ends before the kernel's 'Killed process' line, so it does not name "
        "the victim; the rest of the report (`journalctl -k`, `dmesg -T`) does."
    )


def _held(e: KillEvent) -> str:
    """The victim's memory, or why the excerpt cannot say who the victim was."""
    return " ".join(part for part in (_memory(e), _no_victim_line(e)) if part)


def _kernel_memcg(e: KillEvent) -> Verdict:
    cgroup = f"memory cgroup {e.oom_memcg}" if e.oom_memcg else "its memory cgroup"
    limit = f"its limit of {mib(e.limit_kb)}" if e.limit_kb else "its limit"
    usage = f" (usage {mib(e.usage_kb)}" if e.usage_kb is not None else ""
    if usage:
        usage += f", the limit was hit {e.failcnt} times)" if e.failcnt else ")"
    workload = f" ({where(e)})" if where(e) else ""
    text = (
        f"The kernel's OOM killer killed {victim(e)}{workload} because {cgroup} "
        f"reached {limit}{usage}. {_held(e)}"
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
            f"For a Go service, {_gomemlimit_hint(e.limit_kb)} so the garbage collector works "
            "harder before the wall instead of the kernel killing the process.",
        )
        if maybe_go(e)
        else ()
    )
    steps = (
        _grows_step(e),
        *go,
        "If the memory is really needed, raise the limit and the request together "
        "(`killproof drill --memory SIZE` measures what the service needs).",
        _drill_hint(e.limit_kb),
    )
    at = f"the {e.oom_memcg} memory limit" if e.oom_memcg else "a memory cgroup's limit"
    return Verdict(_cap(f"{victim(e)} OOM-killed at {at}"), text.strip(), steps)


def _kernel_global(e: KillEvent) -> Verdict:
    text = (
        f"The whole machine ran out of memory and the kernel's OOM killer chose {victim(e)}"
        f"{f' (oom_score_adj {e.oom_score_adj})' if e.oom_score_adj is not None else ''}. "
        f"No cgroup limit was hit. {_held(e)}"
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
    return Verdict(_cap(f"{victim(e)} killed by a machine-wide OOM"), text.strip(), steps)


def _kernel_unknown(e: KillEvent) -> Verdict:
    text = (
        f"The kernel's OOM killer killed {victim(e)}, but the evidence does not show whether a "
        f"cgroup limit or the whole machine ran out. {_held(e)}"
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
    return Verdict(_cap(f"{victim(e)} killed by the kernel OOM killer"), text.strip(), steps)


def _k8s_oomkilled(e: KillEvent) -> Verdict:
    text = (
        f"Kubernetes reports {where(e) or victim(e)} as OOMKilled"
        f"{f' (exit code {e.exit_code})' if e.exit_code is not None else ''}: the container "
        "runtime saw an OOM kill in the container's cgroup."
    )
    if e.exit_code == 0:
        text += (
            " Exit code 0 means the main process exited by itself: another process in the "
            "container was the one OOM-killed."
        )
    text += (
        " This does not prove which process died, nor whether the container's, the pod's or "
        "the node's limit was hit."
    )
    go = (
        (
            f"For a Go service, {_gomemlimit_hint(e.limit_kb)}; "
            "`killproof check` finds unbounded caches and goroutines.",
        )
        if maybe_go(e)
        else ()
    )
    steps = (
        "Collect the node's kernel log around the finish time (`journalctl -k` or `dmesg -T` "
        "on the node) and run `killproof why` on it together with the pod status.",
        *go,
        _drill_hint(e.limit_kb),
    )
    return Verdict(f"{where(e) or victim(e)} OOMKilled", text, steps)


def _evicted(e: KillEvent) -> Verdict:
    text = (
        f"The kubelet evicted {where(e) or victim(e)} because the node was low on memory"
        f"{f' ({e.message.strip()})' if e.message else ''}. Eviction sends SIGTERM, then "
        "SIGKILL after the grace period; it is not a kernel OOM kill. Pods using more than "
        "their memory request are evicted first."
    )
    steps = (
        "Set the memory request to the real working set (a `killproof drill` measures it), so "
        "the pod is not first in line when the node runs short.",
        "Handle SIGTERM and drain within the grace period so an eviction is clean "
        "(`killproof check`: KP101, KP102, KP501).",
    )
    return Verdict(f"{where(e) or victim(e)} evicted under node memory pressure", text, steps)


def _liveness(e: KillEvent) -> Verdict:
    grace = f" after a {e.grace_period_s:g} s grace period" if e.grace_period_s is not None else ""
    text = (
        f"The kubelet killed {where(e) or victim(e)} because its liveness (or startup) probe "
        f"failed{f': {e.message.strip()}' if e.message else ''}. It sends SIGTERM, then SIGKILL"
        f"{grace}. Memory was not the reason."
    )
    steps = (
        "Make liveness cheap and independent of dependencies; use readiness to shed load "
        "(`killproof check`: KP207 liveness-same-as-readiness).",
        "Give slow starters a startupProbe (KP208 liveness-kills-slow-start); check probe "
        "timeouts against GC pauses under load with `killproof drill`.",
    )
    return Verdict(f"{where(e) or victim(e)} killed by a failed probe", text, steps)


def _stop_timeout(e: KillEvent) -> Verdict:
    text = (
        f"systemd stopped {where(e) or victim(e)}; the service did not exit within "
        "TimeoutStopSec after SIGTERM, so systemd sent SIGKILL. Memory was not the reason."
    )
    handle = (
        "Handle SIGTERM: `signal.NotifyContext`, then `srv.Shutdown(ctx)` with a deadline "
        "shorter than TimeoutStopSec (`killproof check`: KP101, KP103, KP501)."
        if maybe_go(e)
        else f"Make {e.process} exit on SIGTERM within TimeoutStopSec (its own shutdown "
        "setting), or raise TimeoutStopSec if a clean stop really takes longer."
    )
    steps = (
        handle,
        "`killproof drill` sends SIGTERM under load and shows where shutdown hangs "
        "(a SIGQUIT goroutine dump).",
    )
    verb = "SIGKILLed" if e.killed else "survived systemd's SIGKILL"
    return Verdict(_cap(f"{where(e) or victim(e)} {verb} after a stop timeout"), text, steps)


def _userspace(e: KillEvent, daemon: str) -> Verdict:
    did = "killed" if e.killed else "tried to kill"
    rss = f" (VmRSS {mib(e.anon_rss_kb)})" if e.anon_rss_kb is not None else ""
    place = where(e)
    place = f" {place}" if place.startswith("on ") else f" in {place}" if place else ""
    text = (
        f"{daemon}, a userspace out-of-memory daemon, {did} {victim(e)}{rss}"
        f"{place}: it acts on memory pressure or free "
        "memory before the kernel's OOM killer would, and it picks by its own policy."
    )
    if not e.killed:
        text += " The evidence shows the attempt, not the death."
    if e.message:
        text += f" It said: {e.message.strip()}"
    steps = (
        "Check the daemon's thresholds and exclusions (earlyoom --avoid/--prefer, "
        "systemd-oomd ManagedOOMMemoryPressureLimit=) and give the service a cgroup limit "
        "of its own (`killproof check`: KP304).",
        "Size the service from a drill so it does not push the machine into pressure.",
    )
    headline = (
        f"{victim(e)} killed by {daemon}" if e.killed else f"{daemon} tried to kill {victim(e)}"
    )
    return Verdict(_cap(headline), _cap(text), steps)


def _sigkill_unknown(e: KillEvent) -> Verdict:
    text = (
        f"{victim(e) if e.pid or e.process else where(e) or 'The process'} got "
        f"{e.signal or 'SIGKILL'}"
        f"{f' (exit code {e.exit_code})' if e.exit_code is not None else ''}, but no evidence "
        "here names who sent it. killproof does not guess."
    )
    steps = (
        "Kernel log around the time: `dmesg -T | grep -iE 'oom|killed process'` or "
        "`journalctl -k --since …`.",
        "Kubernetes: `kubectl get pod NAME -o yaml` (lastState) and "
        "`kubectl get events --field-selector involvedObject.name=NAME`.",
        "systemd: `journalctl -u UNIT` (stop timeouts, oom-kill results); Docker: "
        "`docker inspect` (State.OOMKilled).",
        "The cgroup's counters: memory.events (v2) or memory.oom_control (v1) — "
        "`killproof why --cgroup PATH`. Then run `killproof why` on all of it together.",
    )
    who = victim(e) if e.pid or e.process else where(e) or victim(e)
    return Verdict(_cap(f"{who} got {e.signal or 'SIGKILL'} from an unknown sender"), text, steps)


def _kernel_nothing_killed(e: KillEvent) -> Verdict:
    scope = f"memory cgroup {e.oom_memcg}" if e.oom_memcg else "the machine"
    text = (
        f"The kernel's OOM killer ran for {scope} but found no process it could kill "
        "(every candidate was unkillable or already exiting). Nothing died from this record; "
        "on a machine-wide OOM the kernel panics next."
    )
    steps = (
        "Look for processes with oom_score_adj -1000 or stuck in uninterruptible sleep, and "
        "for a limit far below what the cgroup's processes need.",
    )
    return Verdict(f"OOM in {scope} with nothing killable", text, steps)


_DAEMONS = {"lmkd": "Android's lmkd", "talos": "Talos' OOM controller", "oomd": "oomd"}


def explain(e: KillEvent) -> Verdict:
    """The verdict for one (merged) event."""
    kernel = (Cause.KERNEL_OOM_MEMCG, Cause.KERNEL_OOM_GLOBAL, Cause.KERNEL_OOM_UNKNOWN_SCOPE)
    if e.cause in kernel and not e.killed and e.pid is None:
        return _kernel_nothing_killed(e)
    match e.cause:
        case Cause.KERNEL_OOM_MEMCG:
            return _kernel_memcg(e)
        case Cause.KERNEL_OOM_GLOBAL:
            return _kernel_global(e)
        case Cause.KERNEL_OOM_UNKNOWN_SCOPE:
            return _kernel_unknown(e)
        case Cause.K8S_OOMKILLED:
            return _k8s_oomkilled(e)
        case Cause.K8S_EVICTED:
            return _evicted(e)
        case Cause.K8S_LIVENESS_KILL:
            return _liveness(e)
        case Cause.SYSTEMD_STOP_TIMEOUT:
            return _stop_timeout(e)
        case Cause.SYSTEMD_OOMD:
            return _userspace(e, "systemd-oomd")
        case Cause.EARLYOOM:
            return _userspace(e, "earlyoom")
        case Cause.USERSPACE_OOM_OTHER:
            return _userspace(e, _DAEMONS.get(e.source.split("+")[0], "a userspace OOM killer"))
        case Cause.SIGKILL_UNKNOWN:
            return _sigkill_unknown(e)
