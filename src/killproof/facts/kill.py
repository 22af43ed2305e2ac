"""Kill evidence as values: what one source says about one death (:class:`KillEvent`).

Every parser (kernel log, pod JSON, events, journal, earlyoom, docker inspect, Go/shell
output, live cgroup files) turns its input into ``KillEvent`` observations. The merger
(:mod:`killproof.why.merge`) joins observations of the same death into one event, and the
KP7xx rule of its cause (:func:`killproof.rules.kill.explain`) words each event's verdict.

Units: every ``*_kb`` field is in kibibytes (kB as the kernel prints it); times are
strings as the source printed them plus, where known, seconds (``uptime_s`` since boot,
``epoch_s`` since 1970).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from killproof.model import Evidence


class Cause(enum.Enum):
    """Who killed the process and why: exactly one per event (names are a JSON contract)."""

    KERNEL_OOM_GLOBAL = "KERNEL_OOM_GLOBAL"
    KERNEL_OOM_MEMCG = "KERNEL_OOM_MEMCG"
    KERNEL_OOM_UNKNOWN_SCOPE = "KERNEL_OOM_UNKNOWN_SCOPE"
    K8S_OOMKILLED = "K8S_OOMKILLED"
    K8S_EVICTED = "K8S_EVICTED"
    K8S_LIVENESS_KILL = "K8S_LIVENESS_KILL"
    SYSTEMD_STOP_TIMEOUT = "SYSTEMD_STOP_TIMEOUT"
    SYSTEMD_OOMD = "SYSTEMD_OOMD"
    EARLYOOM = "EARLYOOM"
    USERSPACE_OOM_OTHER = "USERSPACE_OOM_OTHER"
    SIGKILL_UNKNOWN = "SIGKILL_UNKNOWN"


class LimitScope(enum.Enum):
    """Which memory limit was hit, relative to the victim's own cgroup."""

    OWN = "own"
    """``oom_memcg == task_memcg``: the victim's own cgroup (the container's limit)."""
    ANCESTOR = "ancestor"
    """``oom_memcg`` is an ancestor of ``task_memcg`` (e.g. the pod's limit, not the container's)."""
    HOST = "host"
    """No cgroup limit: the whole machine (or a cpuset/NUMA domain) ran out."""


@dataclass(frozen=True)
class TaskRow:
    """One row of the kernel's OOM task table, converted to kB (the table prints pages)."""

    pid: int
    name: str
    rss_kb: int
    total_vm_kb: int
    oom_score_adj: int
    uid: int | None = None
    tgid: int | None = None

    def __post_init__(self) -> None:
        if _unsafe(self.name, MAX_FIELD_CHARS):
            object.__setattr__(self, "name", _cut(self.name, MAX_FIELD_CHARS))

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "pid": self.pid,
            "name": self.name,
            "rss_kb": self.rss_kb,
            "total_vm_kb": self.total_vm_kb,
            "oom_score_adj": self.oom_score_adj,
            "uid": self.uid,
            "tgid": self.tgid,
        }


MAX_FIELD_CHARS = 1024
"""A name, path, reason or message read from evidence is cut to this many characters (a
hostile log can make a "process name" 1 MiB long, and the report repeats it)."""
MAX_EVIDENCE_CHARS = 4096
"""A quoted evidence line is cut to this many characters."""
_TEXT_FIELDS = (
    "source",
    "process",
    "oom_memcg",
    "task_memcg",
    "constraint",
    "invoker_process",
    "time",
    "host",
    "namespace",
    "pod",
    "container",
    "unit",
    "signal",
    "reason",
    "message",
)


# Control characters (C0 but tab and newline, DEL, C1) and bidirectional overrides from a
# log must not reach a terminal as themselves: "\x1b]0;…" retitles it, "\x1b[2J" clears it,
# "\r" and U+202E rewrite what a line seems to say. They are shown escaped instead.
_UNSAFE_CODES = [*range(0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI_CODES = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {c: f"\\x{c:02x}" for c in _UNSAFE_CODES} | {c: f"\\u{c:04x}" for c in _BIDI_CODES}
_UNSAFE = re.compile("[" + "".join(re.escape(chr(c)) for c in (*_UNSAFE_CODES, *_BIDI_CODES)) + "]")


def _cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters long, its unsafe characters escaped."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return text.translate(_ESCAPES) if _UNSAFE.search(text) else text


def _unsafe(text: str, limit: int) -> bool:
    return len(text) > limit or _UNSAFE.search(text) is not None


@dataclass(frozen=True)
class KillEvent:
    """One death (or one attempt, ``killed=False``) as one or more sources describe it.

    ``pid`` and ``process`` are only ever the process actually killed: never the task that
    invoked the OOM killer (``invoker_pid``), never a pid a "selected"/"Kill process" line
    named when another was killed (``selected_pid``), never a task-table row.
    """

    cause: Cause
    source: str
    """What kind of evidence: ``kernel``, ``k8s-pod``, ``k8s-events``, ``k8s-describe``,
    ``systemd``, ``systemd-oomd``, ``earlyoom``, ``docker``, ``go``, ``shell``,
    ``exit-code``, ``cgroup``."""
    killed: bool = True
    pid: int | None = None
    process: str | None = None
    anon_rss_kb: int | None = None
    file_rss_kb: int | None = None
    shmem_rss_kb: int | None = None
    total_vm_kb: int | None = None
    oom_score_adj: int | None = None
    limit_kb: int | None = None
    usage_kb: int | None = None
    failcnt: int | None = None
    oom_memcg: str | None = None
    task_memcg: str | None = None
    limit_scope: LimitScope | None = None
    constraint: str | None = None
    invoker_pid: int | None = None
    invoker_process: str | None = None
    selected_pid: int | None = None
    time: str | None = None
    uptime_s: float | None = None
    epoch_s: float | None = None
    host: str | None = None
    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    unit: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None
    """The source's own words for the cause (``OOMKilled``, ``Evicted``, ``oom-kill`` …)."""
    message: str | None = None
    grace_period_s: float | None = None
    top_tasks: tuple[TaskRow, ...] = ()
    evidence: tuple[Evidence, ...] = ()

    def __post_init__(self) -> None:
        # Bounded text whatever the input (see MAX_FIELD_CHARS); a frozen value, so set once.
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str) and _unsafe(value, MAX_FIELD_CHARS):
                object.__setattr__(self, name, _cut(value, MAX_FIELD_CHARS))
        if any(_unsafe(e.text, MAX_EVIDENCE_CHARS) for e in self.evidence):
            cut = tuple(replace(e, text=_cut(e.text, MAX_EVIDENCE_CHARS)) for e in self.evidence)
            object.__setattr__(self, "evidence", cut)

    def with_changes(self, **changes: Any) -> KillEvent:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """JSON form: every field, enums by value, tuples as lists (key names are a contract)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif f.name == "top_tasks":
                value = [t.to_json() for t in value]
            elif f.name == "evidence":
                value = [{"text": e.text, "path": e.path, "line": e.line} for e in value]
            out[f.name] = value
        return out
