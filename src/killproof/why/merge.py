"""Join observations of the same death into one :class:`KillEvent`.

Each parser reports only what its source proves: the kernel names the victim and the
limit, the pod status says ``OOMKilled``, the shell says ``Killed``. When several
observations describe one death they become one event that carries all their evidence.

Two observations are the same death when nothing contradicts it (pids, process names,
pods, containers, units and wall-clock times agree wherever both state them) and either
something positively ties them (the same pid, process, pod/container, unit or cgroup) or
the input holds exactly one death that explains the weaker observation. Anything else
stays separate: we would rather show two events than invent a link.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields

from killproof.facts.kill import Cause, KillEvent

# Larger is more specific: the merged event keeps the most specific cause.
_SPECIFICITY = {
    Cause.SIGKILL_UNKNOWN: 0,
    Cause.K8S_OOMKILLED: 1,
    # A userspace killer's signal and the kernel's kill of the same pid: the kernel killed.
    Cause.USERSPACE_OOM_OTHER: 2,
    Cause.SYSTEMD_OOMD: 2,
    Cause.EARLYOOM: 2,
    Cause.KERNEL_OOM_UNKNOWN_SCOPE: 3,
    Cause.K8S_EVICTED: 3,
    Cause.K8S_LIVENESS_KILL: 3,
    Cause.SYSTEMD_STOP_TIMEOUT: 3,
    Cause.KERNEL_OOM_MEMCG: 4,
    Cause.KERNEL_OOM_GLOBAL: 4,
}

_KERNEL = {Cause.KERNEL_OOM_MEMCG, Cause.KERNEL_OOM_GLOBAL, Cause.KERNEL_OOM_UNKNOWN_SCOPE}
_WEAK = {Cause.SIGKILL_UNKNOWN, Cause.K8S_OOMKILLED}
_USERSPACE = {Cause.EARLYOOM, Cause.SYSTEMD_OOMD, Cause.USERSPACE_OOM_OTHER}
# Causes whose observation names no victim at all may join the one named observation of the
# same cause in the same input (see :func:`merge`).
_NAMELESS_JOINS = {Cause.K8S_EVICTED, Cause.K8S_LIVENESS_KILL}

# Wall-clock times further apart than this are different deaths (seconds).
MAX_SKEW_S = 300.0

_COMM_LEN = 15  # the kernel truncates a task's comm to 15 characters


def _same_process_name(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    # A command line or path on one side, a truncated comm on the other.
    base_a, base_b = _name_key(a), _name_key(b)
    return base_a == base_b and bool(base_a)


def _causes_compatible(a: Cause, b: Cause) -> bool:
    if a == b or (a in _WEAK and b in _WEAK):
        return True
    if Cause.SIGKILL_UNKNOWN in (a, b):
        return True
    if Cause.K8S_OOMKILLED in (a, b):
        other = b if a is Cause.K8S_OOMKILLED else a
        return other in _KERNEL
    if (a in _USERSPACE and b in _KERNEL) or (b in _USERSPACE and a in _KERNEL):
        return True  # earlyoom signalled it, the kernel's OOM killer got there (same pid)
    return a in _KERNEL and b in _KERNEL and Cause.KERNEL_OOM_UNKNOWN_SCOPE in (a, b)


_ONE_LINE_PER_DEATH = {"go", "shell"}


def _death_line(e: KillEvent) -> tuple[str, str, str] | None:
    """(path, source, process) of a Go or shell line that names the process it reports
    dead: each such line is its own death (two compile processes of one build)."""
    if e.source not in _ONE_LINE_PER_DEATH or not e.process or not e.evidence:
        return None
    return (e.evidence[0].path, e.source, e.process)


def contradicts(a: KillEvent, b: KillEvent) -> bool:
    """True when ``a`` and ``b`` cannot be the same death."""
    if not _causes_compatible(a.cause, b.cause):
        return True
    if a.pid is not None and b.pid is not None and a.pid != b.pid:
        return True
    if a.process and b.process and not _same_process_name(a.process, b.process):
        return True
    for name in ("namespace", "pod", "container", "unit", "host"):
        va, vb = getattr(a, name), getattr(b, name)
        if va and vb and va != vb:
            return True
    if a.epoch_s is not None and b.epoch_s is not None and abs(a.epoch_s - b.epoch_s) > MAX_SKEW_S:
        return True
    return (
        a.cause in _KERNEL
        and b.cause in _KERNEL
        and a.uptime_s is not None
        and b.uptime_s is not None
        and abs(a.uptime_s - b.uptime_s) > MAX_SKEW_S
    )


def ties(a: KillEvent, b: KillEvent) -> bool:
    """True when something positively links ``a`` and ``b`` (same pid, name, pod, unit, cgroup)."""
    if a.pid is not None and a.pid == b.pid:
        return True
    if a.process and b.process and _same_process_name(a.process, b.process):
        return True
    if (
        a.pod
        and a.pod == b.pod
        and (a.container == b.container or not (a.container and b.container))
    ):
        return True
    if a.unit and a.unit == b.unit:
        return True
    # A pre-4.19 selection ("Kill process N … or sacrifice child") and the kill of N.
    for sel, other in ((a, b), (b, a)):
        if sel.pid is None and sel.selected_pid is not None and sel.selected_pid == other.pid:
            return True
    cgroups_a = {c for c in (a.oom_memcg, a.task_memcg) if c}
    cgroups_b = {c for c in (b.oom_memcg, b.task_memcg) if c}
    if cgroups_a & cgroups_b:
        return True
    # A pod's uid or a container id inside the kernel's cgroup path.
    for ev, other in ((a, b), (b, a)):
        for path in (ev.task_memcg, ev.oom_memcg):
            if path and other.pod and other.pod in path:
                return True
    return False


def _strength(e: KillEvent) -> tuple[int, int, int]:
    return (_SPECIFICITY[e.cause], int(e.killed), len(e.evidence))


def combine(events: Sequence[KillEvent]) -> KillEvent:
    """One event from observations of the same death: the most specific one's values first,
    gaps filled from the others, evidence from all of them."""
    ordered = sorted(events, key=_strength, reverse=True)
    primary = ordered[0]
    changes: dict[str, object] = {}
    for f in fields(KillEvent):
        if f.name in ("cause", "source", "killed", "evidence", "top_tasks"):
            continue
        if getattr(primary, f.name) is None:
            for other in ordered[1:]:
                value = getattr(other, f.name)
                if value is not None:
                    changes[f.name] = value
                    break
    sources = list(dict.fromkeys(part for e in ordered for part in e.source.split("+")))
    evidence = tuple(
        sorted({ev for e in ordered for ev in e.evidence}, key=lambda v: (v.path, v.line))
    )
    top_tasks = next((e.top_tasks for e in ordered if e.top_tasks), ())
    return primary.with_changes(
        **changes,
        source="+".join(sources),
        killed=any(e.killed for e in ordered),
        evidence=evidence,
        top_tasks=top_tasks,
    )


def _name_key(process: str) -> str:
    """What two names must share to be the same process (see :func:`_same_process_name`)."""
    words = process.split()
    return words[0].rsplit("/", 1)[-1][:_COMM_LEN] if words else ""


def _signature(e: KillEvent) -> tuple[object, ...]:
    """Every field :func:`contradicts` and :func:`ties` read: two observations with the same
    signature contradict and tie exactly the same others."""
    return (
        e.cause,
        e.pid,
        e.process,
        e.namespace,
        e.pod,
        e.container,
        e.unit,
        e.host,
        e.epoch_s,
        e.uptime_s,
        e.oom_memcg,
        e.task_memcg,
    )


class _Groups:
    """Deaths being built, indexed by what can tie an observation to them, so that joining
    n observations costs about n look-ups, not n × n comparisons (a hostile log can hold a
    million kill lines)."""

    def __init__(self) -> None:
        self.members: list[list[KillEvent]] = []
        self._kinds: list[dict[tuple[object, ...], KillEvent]] = []  # distinct signatures
        self._index: dict[tuple[str, object], set[int]] = {}
        self._pods: dict[str, set[int]] = {}
        self._paths: dict[str, set[int]] = {}
        self._pidless: set[int] = set()  # groups no member of which names a pid

    def add(self, obs: KillEvent, gid: int | None = None) -> None:
        """Put ``obs`` into group ``gid``, or into a new group."""
        if gid is None:
            gid = len(self.members)
            self.members.append([])
            self._kinds.append({})
            self._pidless.add(gid)
        if obs.pid is not None:
            self._pidless.discard(gid)
        self.members[gid].append(obs)
        self._kinds[gid].setdefault(_signature(obs), obs)
        for key in self._keys(obs):
            self._index.setdefault(key, set()).add(gid)
        if obs.pod:
            self._pods.setdefault(obs.pod, set()).add(gid)
        for path in (obs.oom_memcg, obs.task_memcg):
            if path:
                self._paths.setdefault(path, set()).add(gid)

    @staticmethod
    def keys_of(e: KillEvent) -> list[tuple[str, object]]:
        """What can tie ``e`` to another observation (pid, name, pod, unit, cgroups)."""
        return _Groups._keys(e)

    @staticmethod
    def _keys(e: KillEvent) -> list[tuple[str, object]]:
        keys: list[tuple[str, object]] = []
        if e.pid is not None:
            keys.append(("pid", e.pid))
        elif e.selected_pid is not None:
            keys.append(("pid", e.selected_pid))
        if e.process:
            keys.append(("name", _name_key(e.process)))
        if e.pod:
            keys.append(("pod", e.pod))
        if e.unit:
            keys.append(("unit", e.unit))
        keys += [("cgroup", c) for c in (e.oom_memcg, e.task_memcg) if c]
        return keys

    def tied(self, obs: KillEvent) -> list[int]:
        """Groups, oldest first, with a member tied to ``obs`` and none contradicting it."""
        found: set[int] = set()
        for key in self._keys(obs):
            found |= self._index.get(key, set())
        if obs.pod:  # a pod's name inside a kernel cgroup path
            for path, gids in self._paths.items():
                if obs.pod in path:
                    found |= gids
        for own in (obs.oom_memcg, obs.task_memcg):
            if own:
                for pod, gids in self._pods.items():
                    if pod in own:
                        found |= gids
        if obs.pid is not None:  # a group with another pid in it contradicts: not a candidate
            found &= self._index.get(("pid", obs.pid), set()) | self._pidless
        return [g for g in sorted(found) if self.fits(obs, g) and self.ties(obs, g)]

    def fits(self, obs: KillEvent, gid: int) -> bool:
        """Nothing in group ``gid`` contradicts ``obs``."""
        return all(not contradicts(obs, e) for e in self._kinds[gid].values())

    def ties(self, obs: KillEvent, gid: int) -> bool:
        """Something in group ``gid`` ties ``obs`` to it."""
        return any(ties(obs, e) for e in self._kinds[gid].values())


def merge(observations: Iterable[KillEvent]) -> list[KillEvent]:
    """Group observations into deaths; return one event per death, in input order of the
    strongest observation of each.

    Strong observations (anything but ``SIGKILL_UNKNOWN``/``K8S_OOMKILLED``) are first
    deduplicated among themselves (the same kernel record read from dmesg and from the
    journal); then each weak observation joins the one group it is tied to, or the only
    group when the input holds exactly one death and nothing contradicts it.
    """
    groups = _Groups()
    weak: list[KillEvent] = []
    nameless: list[KillEvent] = []
    for obs in observations:
        if obs.cause in _WEAK:
            weak.append(obs)
            continue
        if obs.cause in _NAMELESS_JOINS and not _Groups.keys_of(obs):
            nameless.append(obs)
            continue
        tied = groups.tied(obs)
        groups.add(obs, tied[0] if tied else None)

    # An observation that names no victim (an eviction message in a describe fragment, a
    # liveness failure in a pasted Events table) beside the one other observation of the
    # same cause in the same input: one death, said twice.
    same: dict[tuple[Cause, str], list[int]] = {}
    for gid, members in enumerate(groups.members):
        head = members[0]
        if head.cause in _NAMELESS_JOINS:
            path = head.evidence[0].path if head.evidence else ""
            same.setdefault((head.cause, path), []).append(gid)
    for obs in nameless:
        key = (obs.cause, obs.evidence[0].path if obs.evidence else "")
        gids = same.setdefault(key, [])
        if len(gids) == 1 and groups.fits(obs, gids[0]):
            groups.add(obs, gids[0])
        else:
            groups.add(obs)
            gids.append(len(groups.members) - 1)

    told: set[tuple[str, str, str]] = set()
    for obs in weak:
        line = _death_line(obs)
        if line is not None:
            if line in told:  # the same program reported dead again: another death
                groups.add(obs)
                continue
            told.add(line)
        if len(groups.members) == 1:
            # The input holds one death: this observation joins it unless contradicted.
            groups.add(obs, 0 if groups.fits(obs, 0) else None)
            continue
        tied = groups.tied(obs)
        groups.add(obs, tied[0] if len(tied) == 1 else None)
    return [combine(g) for g in groups.members]
