"""The wording of Kubernetes kill evidence, shared by the JSON/YAML and the text parsers.

One :class:`EventRecord` is one Kubernetes event however it was printed (``kubectl get
events -o json``, the ``kubectl get events`` table, the Events table of ``kubectl
describe``); :func:`events_from_record` says what it proves. Message formats are the
kubelet's own (``pkg/kubelet/kuberuntime`` probe kills, ``pkg/kubelet/eviction`` messages,
old and new wording), node-problem-detector's ``OOMKilling`` (the kernel victim line) and
the kubelet's ``SystemOOM``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence

_COMBINED = "(combined from similar events): "
_LOW_ON = re.compile(r"low on resource: (?P<res>[\w./-]+?)\.(?:\s|$)")
_CONTAINER_OLD = re.compile(
    r"Container (?P<c>\S+) was using (?P<use>\S+), "
    r"which exceeds its request of (?P<req>\S+?)\.(?:\s|$)"
)
_CONTAINER_NEW = re.compile(
    r"Container (?P<c>\S+) was using (?P<use>\S+), request is (?P<req>\S+?), "
    r"has larger consumption of (?P<res>\S+?)\.(?:\s|$)"
)
_PROBE_KILL = re.compile(
    r"(?:Container (?P<c>\S+) failed|Killing container with id (?:\w+://)?(?P<c2>[^:\s]+):"
    r"Container failed) (?P<probe>liveness|startup) probe"
)
_GRACE = re.compile(r"grace ?period(?: of|=|:)? ?(?P<s>\d{1,10}(?:\.\d{1,9})?)(?!\d) ?s?", re.I)
_UNHEALTHY = re.compile(
    r"^(?P<probe>Liveness|Startup) probe (?:failed|errored)(?::\s*(?P<out>.*))?$", re.S
)
_VICTIM = re.compile(
    r"(?:(?P<prefix>Memory cgroup out of memory|"
    r"Out of memory(?: \(oom_kill_allocating_task\))?):\s*)?"
    r"Killed process (?P<pid>\d{1,10}),? (?:UID \d{1,10}, )?\((?P<comm>.{0,64}?)\)"
    r"(?:,? UID:? ?\d{1,10})?,? total-vm:(?P<vm>\d{1,19})kB, anon-rss:(?P<anon>\d{1,19})kB, "
    r"file-rss:(?P<file>\d{1,19})kB(?:, shmem-rss:(?P<shmem>\d{1,19})kB)?"
    r"(?:.*?oom_score_adj:(?P<adj>-?\d{1,10})(?!\d))?"
)
_SYSTEM_OOM = "System OOM encountered, victim process: "
_CGROUP_OOM = "Cgroup OOM encountered, victim process: "
_SELECTED = re.compile(
    r"(?P<prefix>Memory cgroup out of memory|Out of memory): Kill process (?P<pid>\d{1,10}) "
    r"\((?P<comm>[^()]{0,64})\)"
)
_SYSTEM_OOM_PID = re.compile(r" pid: (?P<pid>\d{1,10})")
_FIELD_CONTAINER = re.compile(
    r"spec\.(?:initContainers|containers|ephemeralContainers)\{(?P<c>[^}]{1,253})\}"
)
_QUANTITY = re.compile(r"^(?P<n>\d{1,20}(?:\.\d{1,20})?)(?P<u>Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
_UNIT_BYTES = {
    "": 1.0,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "m": 1e-3,
}


def quantity_kb(text: str) -> int | None:
    """A Kubernetes memory quantity (``1830740Ki``, ``500Mi``, ``2G``) in kB; None if not one."""
    m = _QUANTITY.match(text.strip())
    if not m:
        return None
    return int(float(m["n"]) * _UNIT_BYTES[m["u"] or ""] // 1024)


def epoch_of(rfc3339: str | None) -> float | None:
    """Seconds since 1970 for a Kubernetes/Docker/describe timestamp; None without an offset."""
    if not rfc3339:
        return None
    text = rfc3339.strip()
    # Docker prints nanoseconds; datetime takes at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # kubectl describe prints RFC 1123 with a numeric zone: "Tue, 07 May 2024 21:43:54 +0000".
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def container_of_field_path(field_path: str | None) -> str | None:
    """``spec.containers{orders}`` → ``orders``."""
    m = _FIELD_CONTAINER.search(field_path or "")
    return m["c"] if m else None


@dataclass(frozen=True)
class EventRecord:
    """One Kubernetes event as any printer showed it (object kind/name, reason, message)."""

    reason: str
    message: str
    source: str
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    container: str | None = None
    time: str | None = None
    count: int | None = None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Eviction:
    """What an eviction message states: the resource and per-container usage (kB)."""

    resource: str | None
    usage_kb: dict[str, int | None]


def parse_eviction_message(message: str) -> Eviction:
    """Read the kubelet's eviction message (old and new wording)."""
    low = _LOW_ON.search(message)
    usage: dict[str, int | None] = {}
    for m in list(_CONTAINER_OLD.finditer(message)) + list(_CONTAINER_NEW.finditer(message)):
        usage[m["c"]] = quantity_kb(m["use"])
    return Eviction(low["res"] if low else None, usage)


def eviction_events(base: KillEvent, message: str) -> list[KillEvent]:
    """One K8S_EVICTED event per container the message names (else one for the pod)."""
    ev = parse_eviction_message(message)
    base = base.with_changes(cause=Cause.K8S_EVICTED, reason="Evicted", message=message.strip())
    if not ev.usage_kb:
        return [base]
    return [base.with_changes(container=c, usage_kb=kb) for c, kb in ev.usage_kb.items()]


def victim_event(base: KillEvent, text: str) -> KillEvent | None:
    """A kernel victim line quoted in a message (``OOMKilling``) as a kernel OOM event."""
    m = _VICTIM.search(text)
    if not m:
        return None
    prefix = m["prefix"] or ""
    cause = (
        Cause.KERNEL_OOM_MEMCG
        if prefix.startswith("Memory cgroup")
        else Cause.KERNEL_OOM_GLOBAL
        if prefix.startswith("Out of memory")
        else Cause.KERNEL_OOM_UNKNOWN_SCOPE
    )
    return base.with_changes(
        cause=cause,
        pid=int(m["pid"]),
        process=m["comm"],
        total_vm_kb=int(m["vm"]),
        anon_rss_kb=int(m["anon"]),
        file_rss_kb=int(m["file"]),
        shmem_rss_kb=int(m["shmem"]) if m["shmem"] else None,
        oom_score_adj=int(m["adj"]) if m["adj"] else None,
    )


def selection_event(base: KillEvent, text: str) -> KillEvent | None:
    """A pre-4.19 kernel selection line quoted in a message (``OOMKilling: Memory cgroup out
    of memory: Kill process N (x) score S or sacrifice child``): the scope is the prefix's;
    the victim is not named (the kernel may have killed a child instead), so ``pid`` stays
    unknown and ``selected_pid`` holds N."""
    m = _SELECTED.search(text)
    if not m:
        return None
    memcg = m["prefix"].startswith("Memory cgroup")
    return base.with_changes(
        cause=Cause.KERNEL_OOM_MEMCG if memcg else Cause.KERNEL_OOM_GLOBAL,
        selected_pid=int(m["pid"]),
    )


def system_oom_victim(message: str, lead: str = _SYSTEM_OOM) -> tuple[str, int | None] | None:
    """(process name, pid or None) of the kubelet's ``System OOM encountered, victim process:
    x, pid: N`` (or ``Cgroup OOM encountered, …`` with ``lead=CGROUP_OOM``); None when the
    message is not that (only its last occurrence can be)."""
    at = message.rfind(lead)
    if at < 0:
        return None
    comm, comma, tail = message[at + len(lead) :].rstrip().partition(",")
    pid = _SYSTEM_OOM_PID.fullmatch(tail) if comma else None
    if comma and pid is None:
        return None
    return comm.strip(), int(pid["pid"]) if pid else None


def oom_watcher_events(base: KillEvent, reason: str, message: str) -> list[KillEvent]:
    """The kubelet's OOM watcher: ``SystemOOM`` is an OOM kill whose cgroup is the root one
    (the machine ran out: a global OOM), ``CgroupOOM`` one in a container's cgroup (kubelet
    1.21+). Old kubelets print no victim ("System OOM encountered")."""
    memcg = reason == "CgroupOOM"
    lead = _CGROUP_OOM if memcg else _SYSTEM_OOM
    if lead.split(",")[0] not in message:
        return []
    victim = system_oom_victim(message, lead)
    process, pid = victim if victim is not None else ("", None)
    cause = Cause.KERNEL_OOM_MEMCG if memcg else Cause.KERNEL_OOM_GLOBAL
    return [base.with_changes(cause=cause, process=process or None, pid=pid)]


def events_from_record(rec: EventRecord) -> list[KillEvent]:
    """What one Kubernetes event proves: kills, and preludes as ``killed=False``."""
    message = rec.message.strip()
    if message.startswith(_COMBINED):
        message = message[len(_COMBINED) :]
    pod = rec.name if rec.kind in (None, "Pod") else None
    host = rec.name if rec.kind == "Node" else None
    base = KillEvent(
        cause=Cause.SIGKILL_UNKNOWN,
        source=rec.source,
        pod=pod,
        namespace=rec.namespace if pod else None,
        host=host,
        container=rec.container,
        time=rec.time,
        epoch_s=epoch_of(rec.time),
        reason=rec.reason,
        message=message,
        evidence=rec.evidence,
    )
    reason = rec.reason
    if reason == "Killing":
        m = _PROBE_KILL.search(message)
        if not m:
            return []  # an ordinary stop (deletion, rollout): not evidence of a kill
        g = _GRACE.search(message)
        return [
            base.with_changes(
                cause=Cause.K8S_LIVENESS_KILL,
                container=rec.container or m["c"] or m["c2"],
                grace_period_s=float(g["s"]) if g else None,
            )
        ]
    if reason == "Unhealthy":
        u = _UNHEALTHY.match(message)
        if not u:
            return []  # readiness failures never kill
        times = f" ({rec.count} times)" if rec.count and rec.count > 1 else ""
        return [
            base.with_changes(
                cause=Cause.K8S_LIVENESS_KILL,
                killed=False,
                message=f"{u['probe']} probe failed{times}: {(u['out'] or '').strip()}".rstrip(
                    ": "
                ),
            )
        ]
    if reason == "Evicted":
        return eviction_events(base, message)
    if reason == "EvictionThresholdMet":
        if "memory" not in message:
            return []
        # The kubelet starts reclaiming; nothing is evicted yet.
        return [base.with_changes(cause=Cause.K8S_EVICTED, killed=False)]
    if reason == "OOMKilling":
        event = victim_event(base, message) or selection_event(base, message)
        return [event] if event else []
    if reason in ("SystemOOM", "CgroupOOM"):
        return oom_watcher_events(base, reason, message)
    if reason == "PreviousContainerWasOOMKilled":
        return [base.with_changes(cause=Cause.K8S_OOMKILLED, reason="OOMKilled")]
    return []
