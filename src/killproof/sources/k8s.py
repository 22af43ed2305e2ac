"""Kubernetes pods/events and ``docker inspect`` as JSON or YAML → :class:`KillEvent`.

:func:`detect_document` decides by content whether a text is such a document (and fails
with the line of the damage when it looks like one but does not load);
:func:`parse_document` turns the loaded values into events, every one citing the lines of
the keys that prove it.

Choices, and why:

* ``reason: OOMKilled`` → K8S_OOMKILLED. With ``exitCode: 0`` the runtime still saw an OOM
  kill in the container's cgroup, but the main process exited cleanly: some other process
  of the container was the victim (the ``message`` says so).
* ``exitCode: 137`` not OOMKilled → SIGKILL_UNKNOWN (``signal="SIGKILL"``); the sender is
  not guessed. ``exitCode: 143`` → SIGKILL_UNKNOWN with ``signal="SIGTERM"``: a SIGTERM
  death, sender unknown (the cause field names who killed; ``signal`` names how).
* ``reason: ContainerStatusUnknown`` with 137 is the kubelet's placeholder for a container
  it lost track of, not a signal it saw: ``killed=False``.
* Docker ``State.OOMKilled: true`` → KERNEL_OOM_UNKNOWN_SCOPE: the runtime saw the kernel's
  OOM event in the container's cgroup, which the kernel also raises when a *machine-wide*
  OOM kills a process of the container, so the limit that was hit is not proven.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from killproof.errors import InputError
from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence
from killproof.sources.docpos import Positions, load_json, load_yaml, paused_gc
from killproof.sources.docstream import stream_items
from killproof.sources.k8s_messages import (
    EventRecord,
    container_of_field_path,
    epoch_of,
    events_from_record,
    eviction_events,
)

_YAML_HINT = re.compile(r"^(?:- )?(?:apiVersion|kind|containerStatuses|involvedObject):\s", re.M)
_JSON_HINT = re.compile(r'"(?:apiVersion|kind|containerStatuses|involvedObject|OOMKilled)"\s*:')
_STATUS_LISTS = ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses")
MAX_YAML_CHARS = 8 << 20
"""A YAML document over this size is refused (characters): the line-keeping YAML loader
reads about 250 kB a second, and JSON of any size is streamed instead."""
_HINT_CHARS = 16384
_LEAD = re.compile("[\ufeff \t\r\n]*")


@dataclass(frozen=True)
class LoadedDocument:
    """The values of a JSON/YAML input and where each key sits in it."""

    values: tuple[Any, ...]
    positions: Positions


def _text(value: object) -> str | None:
    """A scalar as text; None for null and for a list or mapping (never ``str()`` of a
    container: a YAML alias bomb would expand, a deep nest would overflow the stack)."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _map(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def detect_document(text: str, path: str = "") -> LoadedDocument | None:
    """The loaded document when ``text`` is Kubernetes or Docker JSON/YAML, else None.

    Raises :class:`~killproof.errors.InputError` (naming the line) when the text looks like
    such a document but is malformed or truncated.
    """
    if looks_like_json_document(text):
        values, positions = load_json(text, path)
    elif looks_like_yaml_document(text):
        if len(text) > MAX_YAML_CHARS:
            raise InputError(
                f"a YAML document over {MAX_YAML_CHARS >> 20} MiB; give it as JSON "
                "(kubectl get … -o json), which is read in pieces",
                path,
            )
        values, positions = load_yaml(text, path)
    else:
        return None
    if not any(_kind_of(v) for v in _items(values)):
        return None
    return LoadedDocument(tuple(values), positions)


def _body(text: str) -> str:
    """The first characters of ``text`` after a byte-order mark and blanks."""
    start = _LEAD.match(text).end()  # type: ignore[union-attr]  # always matches
    return text[start : start + _HINT_CHARS]


def looks_like_json_document(text: str) -> bool:
    """True when ``text`` (or its first part) opens a Kubernetes or Docker JSON document,
    not a dmesg line ``[  518.05] …`` or a JSON log of something else."""
    head = _body(text)
    return head[:1] in ("{", "[") and (bool(_JSON_HINT.search(head)) or '"State"' in head)


def looks_like_yaml_document(text: str) -> bool:
    """True when ``text`` (or its first part) looks like Kubernetes YAML."""
    head = _body(text)
    return head[:1] not in ("{", "[", "") and bool(_YAML_HINT.search(head))


def stream_document(stream: BinaryIO, path: str) -> Iterator[KillEvent]:
    """:func:`parse_document` for a JSON input of any size, one object at a time (memory
    bounded by the largest object). Raises :class:`InputError` at damage, after the kills
    of the objects before it."""
    for item, positions in stream_items(stream, path):
        yield from parse_document(LoadedDocument((item,), positions), path)


def _items(values: list[Any]) -> Iterator[Any]:
    """Top-level objects, with Lists (and docker's array) opened one level."""
    for value in values:
        if isinstance(value, list):
            yield from value
        elif isinstance(value, dict) and isinstance(value.get("items"), list):
            yield from value["items"]
        else:
            yield value


def _kind_of(item: object) -> str | None:
    if not isinstance(item, dict):
        return None
    kind = item.get("kind")
    if kind == "Pod" or (kind is None and "containerStatuses" in _map(item.get("status"))):
        return "Pod"
    if kind == "Event" or "involvedObject" in item or "regarding" in item:
        return "Event"
    if isinstance(item.get("State"), dict) and ("Id" in item or "Name" in item):
        return "Docker"
    return kind if isinstance(kind, str) and "apiVersion" in item else None


def parse_document(doc: LoadedDocument, path: str) -> list[KillEvent]:
    """Every kill (and kill attempt) the document's pods, events and containers state.

    Each item is judged first as decoded; only an item that yields events is read again
    with positions (:meth:`Positions.locate`), so a 70 MB pod list costs about one decode.
    """
    out: list[KillEvent] = []
    with paused_gc():
        for item in _items(list(doc.values)):
            events = _item_events(item, path, doc.positions)
            if events:
                located = doc.positions.locate(item)
                if located is not item:
                    events = _item_events(located, path, doc.positions)
            out += events
    return out


def _item_events(item: Any, path: str, pos: Positions) -> list[KillEvent]:
    kind = _kind_of(item)
    if kind == "Pod":
        return _pod_events(item, path, pos)
    if kind == "Event":
        return events_from_record(_event_record(item, path, pos))
    if kind == "Docker":
        return _docker_events(item, path, pos)
    return []


def terminated_event(
    term: dict[str, Any], base: KillEvent, quote: list[Evidence]
) -> KillEvent | None:
    """What one ``terminated`` state (``reason``/``exitCode``/``signal``/``finishedAt``) proves.

    None when it is not a kill (a normal exit). ``base`` carries pod/container identity.
    """
    reason = _text(term.get("reason")) or ""
    code = _int(term.get("exitCode"))
    signal = _int(term.get("signal"))
    finished = _text(term.get("finishedAt"))
    event = base.with_changes(
        exit_code=code,
        reason=reason or None,
        time=finished,
        epoch_s=epoch_of(finished),
        evidence=tuple(quote),
    )
    if reason == "OOMKilled":
        note = (
            "the runtime saw an OOM kill in the container's cgroup, but the main process "
            "exited 0: the victim was another process of the container"
            if code == 0
            else "the runtime saw an OOM kill in the container's cgroup"
        )
        return event.with_changes(
            cause=Cause.K8S_OOMKILLED, signal="SIGKILL" if code == 137 else None, message=note
        )
    if code == 137 or signal == 9:
        if reason == "ContainerStatusUnknown":
            return event.with_changes(
                killed=False,
                signal="SIGKILL",
                message="137 is the kubelet's placeholder for a container it lost, not a "
                "signal it observed",
            )
        return event.with_changes(
            signal="SIGKILL",
            message="SIGKILL that the runtime did not attribute to OOM; the sender is not stated",
        )
    if code == 143 or signal == 15:
        return event.with_changes(
            signal="SIGTERM", message="died from SIGTERM (not SIGKILL); the sender is not stated"
        )
    return None


def _terminated_states(status: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(state key, container status, terminated map) for every terminated state."""
    found = []
    for list_key in _STATUS_LISTS:
        for raw_cs in _list(status.get(list_key)):
            cs = _map(raw_cs)
            for state_key in ("state", "lastState"):
                term = _map(cs.get(state_key)).get("terminated")
                if isinstance(term, dict):
                    found.append((state_key, cs, term))
    return found


def _pod_events(pod: dict[str, Any], path: str, pos: Positions) -> list[KillEvent]:
    meta, status = _map(pod.get("metadata")), _map(pod.get("status"))
    states = _terminated_states(status)
    evicted = status.get("reason") == "Evicted"
    disruption = next(
        (c for c in _list(status.get("conditions")) if _map(c).get("type") == "DisruptionTarget"),
        None,
    )
    if not states and not evicted and disruption is None:
        return []  # most pods of a big list: nothing to report, build nothing
    base = KillEvent(
        cause=Cause.SIGKILL_UNKNOWN,
        source="k8s-pod",
        namespace=_text(meta.get("namespace")),
        pod=_text(meta.get("name")),
        host=_text(_map(pod.get("spec")).get("nodeName")),
    )
    out: list[KillEvent] = []
    evicted_now: dict[str, KillEvent] = {}
    why_disrupted = _text(_map(disruption).get("reason"))
    by_kubelet = evicted or why_disrupted == "TerminationByKubelet"
    for state_key, cs, term in states:
        quote = [pos.quote(path, term, k) for k in ("reason", "exitCode") if k in term]
        ev = terminated_event(term, base.with_changes(container=_text(cs.get("name"))), quote)
        if ev is None:
            continue
        current = state_key == "state" and ev.cause is Cause.SIGKILL_UNKNOWN
        if by_kubelet and current:
            evicted_now[ev.container or ""] = ev  # the eviction's own SIGTERM/SIGKILL
            continue
        if disruption is not None and current:
            # Preemption, a drain (eviction API) or a taint: the pod was being stopped on
            # purpose when this signal came. Said, not concluded: the sender is still unknown.
            ev = ev.with_changes(
                message=f"{ev.message}; the pod has a DisruptionTarget condition "
                f"({why_disrupted}: {_text(_map(disruption).get('message')) or ''})",
                evidence=(*ev.evidence, pos.quote(path, disruption, "reason")),
            )
        out.append(ev)
    if by_kubelet:
        message = _text(status.get("message")) or _text(_map(disruption).get("message")) or ""
        cond_time = _text(_map(disruption).get("lastTransitionTime"))
        quote = [pos.quote(path, status, k) for k in ("reason", "message") if k in status]
        if disruption:
            quote.append(pos.quote(path, disruption, "reason"))
        start = base.with_changes(
            time=cond_time, epoch_s=epoch_of(cond_time), evidence=tuple(quote)
        )
        for eviction in eviction_events(start, message):
            died = evicted_now.pop(eviction.container or "", None)
            ev = eviction
            if died is not None:
                ev = eviction.with_changes(
                    exit_code=died.exit_code,
                    signal=died.signal,
                    time=ev.time or died.time,
                    epoch_s=ev.epoch_s or died.epoch_s,
                    evidence=ev.evidence + died.evidence,
                )
            out.append(ev)
    out += evicted_now.values()
    return out


def _event_record(item: dict[str, Any], path: str, pos: Positions) -> EventRecord:
    obj = _map(item.get("involvedObject") or item.get("regarding"))
    series = _map(item.get("series"))
    time = (
        _text(series.get("lastObservedTime"))
        or _text(item.get("lastTimestamp"))
        or _text(item.get("deprecatedLastTimestamp"))
        or _text(item.get("eventTime"))
        or _text(item.get("firstTimestamp"))
    )
    msg_key = "message" if "message" in item else "note"
    quote = [pos.quote(path, item, k) for k in ("reason", msg_key) if k in item]
    return EventRecord(
        reason=_text(item.get("reason")) or "",
        message=_text(item.get(msg_key)) or "",
        source="k8s-events",
        kind=_text(obj.get("kind")),
        name=_text(obj.get("name")),
        namespace=_text(obj.get("namespace")) or _text(_map(item.get("metadata")).get("namespace")),
        container=container_of_field_path(_text(obj.get("fieldPath"))),
        time=time,
        count=_int(item.get("count"))
        or _int(series.get("count"))
        or _int(item.get("deprecatedCount")),
        evidence=tuple(quote),
    )


def docker_state_event(
    state: dict[str, Any], quote: list[Evidence], base: KillEvent | None = None
) -> KillEvent | None:
    """What a ``docker inspect`` ``State`` (``OOMKilled``, ``ExitCode``, ``FinishedAt``)
    proves; None when it is not a kill. ``base`` carries the container's identity."""
    oom, code = state.get("OOMKilled") is True, _int(state.get("ExitCode"))
    if not oom and code not in (137, 143):
        return None
    finished = _text(state.get("FinishedAt")) or _text(state.get("finishedAt"))
    event = (base or KillEvent(cause=Cause.SIGKILL_UNKNOWN, source="docker")).with_changes(
        cause=Cause.SIGKILL_UNKNOWN,
        exit_code=code,
        time=finished,
        epoch_s=epoch_of(finished),
        evidence=tuple(quote),
    )
    if oom:
        return event.with_changes(
            cause=Cause.KERNEL_OOM_UNKNOWN_SCOPE,
            reason="OOMKilled",
            signal="SIGKILL" if code == 137 else None,
            message="Docker saw the kernel's OOM event in the container's cgroup (raised for "
            "the container's own limit and for machine-wide OOMs alike)",
        )
    sig = "SIGKILL" if code == 137 else "SIGTERM"
    return event.with_changes(
        signal=sig,
        reason=f"ExitCode {code}, OOMKilled false",
        message=f"died from {sig}; Docker did not see an OOM event; the sender is not stated",
    )


def _docker_events(c: dict[str, Any], path: str, pos: Positions) -> list[KillEvent]:
    state = _map(c.get("State"))
    labels = _map(_map(c.get("Config")).get("Labels"))
    name = (_text(c.get("Name")) or "").lstrip("/") or None
    quote = [pos.quote(path, state, k) for k in ("OOMKilled", "ExitCode") if k in state]
    base = KillEvent(
        cause=Cause.SIGKILL_UNKNOWN,
        source="docker",
        container=_text(labels.get("io.kubernetes.container.name")) or name,
        pod=_text(labels.get("io.kubernetes.pod.name")),
        namespace=_text(labels.get("io.kubernetes.pod.namespace")),
    )
    event = docker_state_event(state, quote, base)
    return [event] if event is not None else []
