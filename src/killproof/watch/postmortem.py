"""After the watched process dies: what killed it, from ``why``'s evidence readers, as a
report in the drill's format (so every formatter and ``report`` render it).

Evidence, strongest first: the cgroup's OOM-kill counter went up while we watched; the
kernel log names the pid (``why``'s kernel reader); the exit status (only for a command the
watcher started). The heap profiles captured before the death name the allocation sites.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from killproof.drill import pprof_adapter
from killproof.drill.cgroup import CgroupVersion
from killproof.drill.verdict import build_report
from killproof.facts.drill import (
    DrillLimits,
    DrillResult,
    Exit,
    HeapProfile,
    LeakFlag,
    OomRecord,
    Sample,
    SandboxKind,
)
from killproof.model import Report


@dataclass(frozen=True)
class Death:
    """What the watcher saw of the end (seconds since it attached, bytes, counts)."""

    t_s: float
    exit: Exit | None
    oom_kills_before: int | None
    oom_kills_after: int | None
    limit_bytes: int | None
    kernel_lines: tuple[str, ...] = ()
    """``why``'s explanation of the kernel's record of this pid's kill (headline first)."""
    cgroup_lines: tuple[str, ...] = ()
    """``why``'s explanation of the cgroup's own files, when they show a kill."""


def oom_record(death: Death, samples: Sequence[Sample]) -> OomRecord | None:
    """Was it killed for memory? The cgroup counter, then the kernel log, then SIGKILL at the
    limit (same order and sources as the drill)."""
    last = next((s for s in reversed(samples) if s.memory_bytes and not s.oom_kills), None)
    used = last.memory_bytes if last else None
    limit = death.limit_bytes or 0
    before, after = death.oom_kills_before or 0, death.oom_kills_after
    if after is not None and after > before:
        why = f"cgroup oom_kill counter {before} → {after} while watched"
        return OomRecord(death.t_s, "cgroup-events", limit, used, (why, *death.cgroup_lines))
    if death.kernel_lines:
        return OomRecord(death.t_s, "kernel-log", limit, used, death.kernel_lines[:1])
    ended = death.exit
    if ended is not None and ended.signal == "SIGKILL" and used and limit and used > 0.9 * limit:
        why = f"{ended.describe()} at {used} of {limit} bytes"
        return OomRecord(death.t_s, "exit-status", limit, used, (why,))
    return None


def postmortem(
    command: tuple[str, ...],
    version: CgroupVersion | None,
    death: Death,
    samples: Sequence[Sample],
    profiles: Sequence[HeapProfile],
    leak_flag: LeakFlag | None,
    notes: Sequence[str] = (),
) -> Report:
    """The post-mortem report (drill format, ``command`` ``watch``)."""
    oom = oom_record(death, samples)
    peak = max((s.memory_bytes for s in samples if s.memory_bytes), default=0)
    said = list(notes)
    if death.limit_bytes is None:
        said.append("no memory limit was found: the peak seen is shown as the limit")
    if death.exit is None:
        said.append("exit status unknown: the process was not started by the watcher")
    kind = {CgroupVersion.V1: SandboxKind.CGROUP_V1, CgroupVersion.V2: SandboxKind.CGROUP_V2}
    result = DrillResult(
        command=command,
        sandbox=kind.get(version, SandboxKind.WATCHDOG) if version else SandboxKind.WATCHDOG,
        limits=DrillLimits(memory_bytes=death.limit_bytes or peak or 1),
        ready=True,
        samples=tuple(samples),
        profiles=tuple(_decoded(p) for p in profiles),
        oom=oom,
        exit=death.exit or (Exit(death.t_s, signal="SIGKILL") if oom else None),
        notes=tuple(said),
        kernel_events=death.kernel_lines,
        leak_flag=leak_flag,
    )
    report = build_report(result, {"watch": True})
    summary = report.summary.replace("drill ", "watch post-mortem ", 1)
    return replace(report, command="watch", summary=summary)


def _decoded(profile: HeapProfile) -> HeapProfile:
    return profile if profile.top or profile.error else pprof_adapter.decode(profile)


def kernel_lines(uptime0_s: float | None, pid: int) -> tuple[str, ...]:
    """``why``'s explanation of the kernel's record of ``pid``'s OOM kill since ``uptime0_s``
    (seconds since boot); empty when the log is unreadable or says nothing."""
    if uptime0_s is None:
        return ()
    with contextlib.suppress(Exception):  # the kernel log is a bonus, never a failure
        from killproof.rules.kill import explain
        from killproof.why.api import kernel_kills_since

        out: list[str] = []
        for event in kernel_kills_since(uptime0_s - 1.0, pid):
            out.append(explain(event).headline)
            out.extend(e.text for e in event.evidence[:6])
        return tuple(out)
    return ()


def cgroup_lines(directory: Path | None) -> tuple[str, ...]:
    """``why``'s reading of the cgroup's files (``memory.events``/``oom_control``)."""
    if directory is None:
        return ()
    with contextlib.suppress(Exception):
        from killproof.rules.kill import explain
        from killproof.sources.cgroupfs import kill_event, read_cgroup

        event = kill_event(read_cgroup(directory))
        if event is not None:
            return (explain(event).headline, *(e.text for e in event.evidence[:4]))
    return ()
