"""How ``why`` lays out what it found for a person: kills newest first, a short table of
them, what each input was recognised as, and a live cgroup's counters. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from killproof.facts.kill import KillEvent
from killproof.model import Table, counted
from killproof.rules.kill.text import mib
from killproof.sources import k8s_loose
from killproof.sources.cgroupfs import CgroupMemory, CgroupVersion
from killproof.why.clocktime import WallClock, when

# What a person calls the evidence each source reads (KillEvent.source → words).
KINDS: Mapping[str, str] = {
    "kernel": "kernel log",
    "k8s-pod": "kubectl get pod",
    "k8s-events": "kubectl events",
    "k8s-describe": "kubectl describe pod",
    "k8s-text": "Kubernetes text",
    "systemd": "systemd journal",
    "systemd-oomd": "systemd-oomd journal",
    "earlyoom": "earlyoom log",
    "docker": "docker inspect",
    "go": "Go program output",
    "shell": "shell output",
    "exit-code": "exit status",
    "cgroup": "memory cgroup counters",
    "oomd": "oomd log",
    "lmkd": "Android lmkd log",
    "android": "Android log",
    "talos": "Talos log",
}


@dataclass(frozen=True)
class InputRead:
    """One input (a file, ``<stdin>``, the live kernel log, a cgroup) and what was
    recognised in it: the ``source`` of each observation read from it, in first-seen order,
    and whether its lines came wrapped in ``journalctl -o json`` records."""

    name: str
    sources: tuple[str, ...] = ()
    observations: int = 0
    journal_json: bool = False
    not_read: bool = False


def input_read(name: str, events: Sequence[KillEvent], not_read: bool = False) -> InputRead:
    """The :class:`InputRead` of ``name`` from the observations read from it."""
    sources = tuple(dict.fromkeys(e.source for e in events))
    if len(sources) > 1:
        # The fallback Kubernetes text reader also reads what a specific reader read.
        sources = tuple(s for s in sources if s != k8s_loose.SOURCE)
    wrapped = any(
        ev.text.lstrip().startswith("{") and '"MESSAGE"' in ev.text
        for e in events
        for ev in e.evidence
    )
    return InputRead(name, sources, len(events), wrapped, not_read)


def recognised_as(read: InputRead, unrecognized_lines: int) -> str:
    """``kernel log``, ``journal JSON: kernel log``, ``kubectl get pod, exit status``, or
    that nothing was recognised (and how many of its lines look like kill evidence)."""
    if read.not_read:
        return "not read (see skipped)"
    if not read.sources:
        if unrecognized_lines:
            look = "looks" if unrecognized_lines == 1 else "look"
            return (
                f"nothing recognised; {counted(unrecognized_lines, 'line')} {look} like "
                "kill evidence (listed below)"
            )
        return "nothing recognised as kill evidence"
    kinds = ", ".join(KINDS.get(s, s) for s in read.sources)
    return f"journal JSON: {kinds}" if read.journal_json else kinds


def inputs_table(reads: Sequence[InputRead], unrecognized: Mapping[str, int]) -> Table:
    """One row per input: its name, what it was recognised as, how many observations."""
    return Table(
        title="Inputs",
        columns=("input", "recognised as", "observations"),
        rows=tuple(
            (r.name, recognised_as(r, unrecognized.get(r.name, 0)), str(r.observations))
            for r in reads
        ),
    )


def inputs_json(reads: Sequence[InputRead], unrecognized: Mapping[str, int]) -> list[object]:
    """The JSON form of :func:`inputs_table`."""
    return [
        {
            "input": r.name,
            "recognised_as": recognised_as(r, unrecognized.get(r.name, 0)),
            "sources": list(r.sources),
            "observations": r.observations,
        }
        for r in reads
    ]


def newest_first(events: Sequence[KillEvent]) -> list[KillEvent]:
    """Events newest first: by clock time when every timed event has one, else by seconds
    since boot when every timed event has those (one machine's log), else in the reverse
    of the order read (each log is read oldest first). Events without a time keep their
    reverse reading order after the timed ones."""
    timed = [e for e in events if e.epoch_s is not None or e.uptime_s is not None]
    backwards = list(reversed(events))
    if timed and all(e.epoch_s is not None for e in timed):
        key = {id(e): e.epoch_s for e in timed}
    elif timed and all(e.uptime_s is not None for e in timed):
        key = {id(e): e.uptime_s for e in timed}
    else:
        return backwards
    return sorted(backwards, key=lambda e: -_or_earliest(key.get(id(e))))


def _or_earliest(value: float | None) -> float:
    return float("-inf") if value is None else value


def kills_table(events: Sequence[KillEvent], clock: WallClock | None) -> Table:
    """The short table of kills, one row each, in the order given."""
    rows = []
    for e in events:
        rows.append(
            (
                when(e, clock),
                e.cause.value + ("" if e.killed else " (attempt)"),
                str(e.pid) if e.pid is not None else "",
                e.process or e.container or e.unit or "",
                mib(e.anon_rss_kb) if e.anon_rss_kb is not None else "",
                mib(e.limit_kb) if e.limit_kb is not None else "",
                e.oom_memcg or "",
            )
        )
    return Table(
        title="Kills, newest first" if len(events) > 1 else "Kill",
        columns=("time", "cause", "pid", "process", "anon-rss", "limit", "limit cgroup"),
        rows=tuple(rows),
    )


def _size(size: int | None) -> str:
    return "?" if size is None else mib(size // 1024)


def cgroup_rows(mem: CgroupMemory) -> list[tuple[str, str]]:
    """A live memory cgroup's counters as ``(name, value)`` rows, sizes in MiB."""
    v1 = mem.version is CgroupVersion.V1
    rows = [("cgroup", mem.path)]
    if mem.hierarchy_path and mem.hierarchy_path != mem.path:
        rows.append(("as the kernel names it", mem.hierarchy_path))
    rows.append(("version", f"cgroup {mem.version.value}"))
    usage = _size(mem.usage_bytes)
    if mem.limit_bytes and mem.usage_bytes is not None:
        usage += f" ({mem.usage_bytes * 100 // mem.limit_bytes} % of the limit)"
    rows.append(("usage", usage))
    if mem.peak_bytes is not None:
        rows.append(("peak usage", _size(mem.peak_bytes)))
    rows.append(("limit", _size(mem.limit_bytes) if mem.limit_bytes is not None else "none"))
    hits = "?" if mem.limit_hits is None else str(mem.limit_hits)
    rows.append(("failcnt" if v1 else "memory.events max", hits))
    if not v1:
        rows.append(("memory.events oom", "?" if mem.oom is None else str(mem.oom)))
    kills = "?" if mem.oom_kill is None else str(mem.oom_kill)
    rows.append(("oom_kill" if v1 else "memory.events oom_kill", kills))
    if mem.under_oom is not None:
        rows.append(("under_oom", "yes" if mem.under_oom else "no"))
    return rows


def cgroup_table(mem: CgroupMemory) -> Table:
    """:func:`cgroup_rows` as a key/value table (no header row)."""
    return Table(title="Memory cgroup", columns=("", ""), rows=tuple(cgroup_rows(mem)))


def cgroup_json(mem: CgroupMemory) -> dict[str, object]:
    """A live memory cgroup's counters for JSON: sizes in bytes, None when unknown."""
    return {
        "path": mem.path,
        "hierarchy_path": mem.hierarchy_path,
        "version": mem.version.value,
        "usage_bytes": mem.usage_bytes,
        "peak_bytes": mem.peak_bytes,
        "limit_bytes": mem.limit_bytes,
        "limit_hits": mem.limit_hits,
        "oom": mem.oom,
        "oom_kill": mem.oom_kill,
        "under_oom": mem.under_oom,
    }


def cgroup_sentence(mem: CgroupMemory) -> str:
    """``memory cgroup /x uses 12.0 MiB of its 64.0 MiB limit, oom_kill 0``."""
    name = mem.hierarchy_path or mem.path
    limit = f" of its {_size(mem.limit_bytes)} limit" if mem.limit_bytes else " (no limit)"
    kills = "?" if mem.oom_kill is None else str(mem.oom_kill)
    return f"memory cgroup {name} uses {_size(mem.usage_bytes)}{limit}, oom_kill {kills}"


def summary(
    deaths: int, attempts: int, first_headline: str, unknown: int, mem: CgroupMemory | None
) -> str:
    """The headline of a ``why`` report."""
    if not deaths and not attempts:
        if unknown:
            look, them = ("looks", "it") if unknown == 1 else ("look", "them")
            return (
                f"No kill understood, but {counted(unknown, 'line')} {look} like kill "
                f"evidence (listed below): read {them} yourself."
            )
        if mem is not None:
            return f"No kill found; {cgroup_sentence(mem)}."
        return "No kill found in the evidence."
    counts = counted(deaths, "kill")
    if attempts:
        counts += f", {counted(attempts, 'attempt')}"
    newest = ", the newest" if deaths + attempts > 1 else ""
    return f"{counts}{newest}: {first_headline}"
