"""What every kill verdict (KP7xx) says the same way: the victim, where it ran, the memory
it held, and the next steps shared by several causes. Each rule module writes its own
verdict with these; :func:`killproof.rules.kill.explain` picks the module by cause.

Memory figures are kibibytes in, ``MiB`` text out."""

from __future__ import annotations

from dataclasses import dataclass

from killproof.facts.kill import KillEvent
from killproof.sources.deploy import quantity


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


def cap(text: str) -> str:
    """A sentence starts with a capital (``a process …`` → ``A process …``); a process or
    unit name is never changed (``orders-leak`` stays as the kernel printed it)."""
    return text[:1].upper() + text[1:] if text.startswith(("a ", "an ")) else text


def grows_step(e: KillEvent) -> str:
    """The step that finds what grows: killproof's Go rules, or the program's own settings."""
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
    """``65536`` kB (the kernel's unit) → ``64.0 MiB`` (``?`` when unknown), by the one
    byte formatter."""
    return quantity.mib(kb * 1024 if kb is not None else None)


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


def gomemlimit_hint(limit_kb: int | None) -> str:
    """``set GOMEMLIMIT=…MiB`` at 90 % of the limit (kB), or the rule of thumb when unknown."""
    if limit_kb is None:
        return "set GOMEMLIMIT to about 90 % of the memory limit"
    return f"set GOMEMLIMIT={int(limit_kb * 0.9 / 1024)}MiB (90 % of the {mib(limit_kb)} limit)"


def drill_hint(limit_kb: int | None) -> str:
    """The ``killproof drill`` command that reproduces a kill at the limit (kB)."""
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


def held(e: KillEvent) -> str:
    """The victim's memory, or why the excerpt cannot say who the victim was."""
    return " ".join(part for part in (_memory(e), _no_victim_line(e)) if part)


def userspace_verdict(e: KillEvent, daemon: str) -> Verdict:
    """The verdict of a userspace OOM daemon (``daemon`` names it) killing or trying to kill."""
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
    return Verdict(cap(headline), cap(text), steps)


def nothing_killed(e: KillEvent) -> Verdict:
    """A kernel OOM report that found nothing it could kill (no victim, no death)."""
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
