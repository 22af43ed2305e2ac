"""``kubectl describe pod|node`` and ``kubectl get events`` text → :class:`KillEvent`.

Two streaming LineParsers. :class:`DescribeParser` starts at a ``Name:`` line in column 0
and reads the rest of the describe output (pod identity, each container's ``State`` /
``Last State: Terminated`` block, pod ``Status/Reason/Message`` for evictions, and the
``Events:`` table). :class:`EventTableParser` reads the ``kubectl get events`` table (with
or without ``NAMESPACE``, and the old ``LAST SEEN FIRST SEEN COUNT NAME KIND SUBOBJECT …``
layout). Tables are cut at the header's column offsets (kubectl aligns every row with a
tabwriter), falling back to runs of two or more spaces when a paste mangled the alignment.
Ages are relative ("2m"), so events from tables carry no time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence
from killproof.sources.k8s import terminated_event
from killproof.sources.k8s_messages import (
    EventRecord,
    container_of_field_path,
    events_from_record,
    eviction_events,
)

# The value is read to the end and stripped by the caller: ".*?" before "\s*$" would try
# every split of a run of spaces (quadratic on a long line).
_TOP = re.compile(r"^(?P<key>[A-Z][\w /-]*?):(?:\s+(?P<value>.*))?$")
_CONTAINER = re.compile(r"^  (?P<name>[\w.-]+):\s*$")
_FIELD = re.compile(r"^(?P<indent> {4,})(?P<key>[A-Z][\w ]*?):(?:\s+(?P<value>.*))?$")
_COUNT = re.compile(r"\(x(?P<n>\d{1,10}) over")
_COLUMNS = re.compile(r"\S+(?: \S+)*")
_INT = re.compile(r"-?[0-9]{1,18}")
MAX_ROWS = 1000
"""Events rows held before their events are handed out (the document's identity is known
by the Events section, the last one)."""
_DESCRIBE_KEYS = {"Namespace", "Labels", "Roles", "Priority", "Annotations", "Node"}
_FIELD_KEYS = {
    "Reason": "reason",
    "Exit Code": "exitCode",
    "Signal": "signal",
    "Finished": "finishedAt",
    "Started": "startedAt",
    "Message": "message",
}


def _columns(header: str) -> list[tuple[str, int]]:
    """Header names (``LAST SEEN`` keeps its single space) with their start offsets."""
    return [(m.group(), m.start()) for m in _COLUMNS.finditer(header)]


def _split_row(line: str, cols: list[tuple[str, int]]) -> dict[str, str] | None:
    offsets = [o for _, o in cols]
    aligned = len(line) > offsets[-1] and all(
        o == 0 or (line[o - 1] == " " and line[o] != " ") for o in offsets
    )
    if aligned:
        cells = [line[a:b].strip() for a, b in zip(offsets, [*offsets[1:], len(line)], strict=True)]
    else:
        # Old kubectl separated columns with tabs; pastes squeeze runs of spaces.
        cells = re.split(r"\s{2,}|\t", line.strip(), maxsplit=len(cols) - 1)
        if len(cells) != len(cols):
            return None
    return {name: cell for (name, _), cell in zip(cols, cells, strict=True)}


def _record(row: dict[str, str], source: str, evidence: Evidence, **ident: Any) -> EventRecord:
    count = _COUNT.search(row.get("Age", ""))
    raw_count = row.get("COUNT") or row.get("Count") or ""
    return EventRecord(
        reason=row.get("Reason") or row.get("REASON") or "",
        message=row.get("Message") or row.get("MESSAGE") or "",
        source=source,
        count=int(count["n"]) if count else int(raw_count) if _INT.fullmatch(raw_count) else None,
        evidence=(evidence,),
        **ident,
    )


class EventTableParser:
    """``kubectl get events`` (text table) → events (see module doc)."""

    anchors: tuple[str, ...] = ("LAST SEEN",)

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._cols: list[tuple[str, int]] | None = None

    @property
    def wants_context(self) -> bool:
        """True while inside a table."""
        return self._cols is not None

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line; rows of the table become events."""
        text = line.rstrip()
        if re.match(r"^(?:NAMESPACE\s+)?LAST SEEN\s", text):
            cols = _columns(text)
            names = {n for n, _ in cols}
            self._cols = cols if {"REASON", "MESSAGE"} <= names else None
            return ()
        if self._cols is None:
            return ()
        if not text.strip():
            self._cols = None  # a blank line ends the table
            return ()
        row = _split_row(text, self._cols)
        if row is None:
            self._cols = None  # kubectl rows always fit the header: the table has ended
            return ()
        kind, name = None, None
        if "/" in row.get("OBJECT", ""):
            kind_text, name = row["OBJECT"].split("/", 1)
            kind = kind_text.capitalize()
        elif row.get("KIND"):
            kind, name = row["KIND"], re.sub(r"\.[0-9a-f]{8,}$", "", row.get("NAME", "")) or None
        record = _record(
            row,
            "k8s-events",
            Evidence(text.strip(), self.path, lineno),
            kind=kind,
            name=name,
            namespace=row.get("NAMESPACE") or None,
            container=container_of_field_path(row.get("SUBOBJECT")),
        )
        return events_from_record(record)

    def finish(self) -> Iterable[KillEvent]:
        """Nothing is held back."""
        self._cols = None
        return ()


class DescribeParser:
    """``kubectl describe pod`` / ``kubectl describe node`` text → events (see module doc)."""

    anchors: tuple[str, ...] = ("Name:", "Events:")

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._reset()

    def _reset(self) -> None:
        self._active = False
        self._confirmed = False
        self._seen = 0
        self._top: dict[str, tuple[str, int]] = {}
        self._section = ""
        self._container: str | None = None
        self._state_key: str | None = None
        self._state: dict[str, Any] = {}
        self._state_lines: list[Evidence] = []
        self._terminated: list[tuple[str, KillEvent]] = []  # (state key, event)
        self._raw: dict[str, Evidence] = {}
        self._rows: list[EventRecord] = []
        self._cols: list[tuple[str, int]] | None = None

    @property
    def wants_context(self) -> bool:
        """True while reading a describe document."""
        return self._active

    def _base(self) -> KillEvent:
        name = self._top.get("Name", ("", 0))[0] or None
        is_node = "Roles" in self._top or "Namespace" not in self._top
        return KillEvent(
            cause=Cause.SIGKILL_UNKNOWN,
            source="k8s-describe",
            pod=None if is_node else name,
            namespace=None if is_node else self._top.get("Namespace", ("", 0))[0] or None,
            host=name if is_node else (self._top.get("Node", ("", 0))[0].split("/")[0] or None),
        )

    def _flush_state(self) -> None:
        if self._state_key and self._state.get("state") == "Terminated":
            term = dict(self._state)
            if isinstance(term.get("exitCode"), str) and _INT.fullmatch(term["exitCode"]):
                term["exitCode"] = int(term["exitCode"])
            if isinstance(term.get("signal"), str) and _INT.fullmatch(term["signal"]):
                term["signal"] = int(term["signal"])
            ev = terminated_event(
                term, self._base().with_changes(container=self._container), list(self._state_lines)
            )
            if ev is not None:
                self._terminated.append((self._state_key, ev))
        self._state_key, self._state, self._state_lines = None, {}, []

    def _finish_doc(self) -> list[KillEvent]:
        if not self._active:
            return []
        self._flush_state()
        out: list[KillEvent] = []
        is_node = "Roles" in self._top or "Namespace" not in self._top
        reason = self._top.get("Reason")
        if reason and reason[0] == "Evicted" and not is_node:
            message = self._top.get("Message", ("", 0))[0]
            quote = tuple(self._raw[k] for k in ("Status", "Reason", "Message") if k in self._raw)
            # The current state of a container of an evicted pod is the eviction's own
            # SIGTERM/SIGKILL: it joins the eviction event instead of standing alone.
            current = {
                ev.container: ev
                for key, ev in self._terminated
                if key == "State" and ev.cause is Cause.SIGKILL_UNKNOWN
            }
            for eviction in eviction_events(self._base().with_changes(evidence=quote), message):
                died = current.pop(eviction.container, None)
                ev = eviction
                if died is not None:
                    ev = eviction.with_changes(
                        exit_code=died.exit_code,
                        signal=died.signal,
                        time=died.time,
                        epoch_s=died.epoch_s,
                        evidence=eviction.evidence + died.evidence,
                    )
                out.append(ev)
            unjoined = {id(ev) for ev in current.values()}
            out += [
                ev
                for key, ev in self._terminated
                if not (key == "State" and ev.cause is Cause.SIGKILL_UNKNOWN) or id(ev) in unjoined
            ]
        else:
            out += [ev for _, ev in self._terminated]
        out += self._row_events()
        self._reset()
        return out

    def _row_events(self) -> list[KillEvent]:
        """What the Events rows read so far prove (the rows are then dropped)."""
        is_node = "Roles" in self._top or "Namespace" not in self._top
        kind = "Node" if is_node else "Pod"
        b = self._base()
        out: list[KillEvent] = []
        for rec in self._rows:
            rec_name = b.host if is_node else b.pod
            full = EventRecord(
                rec.reason,
                rec.message,
                rec.source,
                kind=kind,
                name=rec_name,
                namespace=b.namespace,
                container=rec.container,
                count=rec.count,
                evidence=rec.evidence,
            )
            out += events_from_record(full)
        self._rows = []
        return out

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line of (possibly) describe output."""
        text = line.rstrip()
        out: list[KillEvent] = []
        if text.startswith("Name:") and (_TOP.match(text)):
            out += self._finish_doc()
            self._active = True
        elif text == "Events:" and not self._active:
            # A pasted Events table without the rest of the describe output.
            self._active, self._confirmed = True, True
        if not self._active:
            return out
        self._seen += 1
        if not self._confirmed and self._seen > 4:
            self._reset()  # a "Name:" line of something else
            return out
        top = _TOP.match(text)
        if top and not text.startswith(" "):
            key, value = top["key"], (top["value"] or "").rstrip()
            self._confirmed = self._confirmed or key in _DESCRIBE_KEYS
            self._flush_state()
            self._section, self._container, self._cols = key, None, None
            self._top.setdefault(key, (value, lineno))
            self._raw.setdefault(key, Evidence(text.strip(), self.path, lineno))
            return out
        if text and not text.startswith((" ", "\t")):
            return out + self._finish_doc()  # something that is not describe output
        if self._section in ("Containers", "Init Containers", "Ephemeral Containers"):
            self._container_line(lineno, text)
        elif self._section == "Events":
            self._event_line(lineno, text)
            if len(self._rows) >= MAX_ROWS:  # memory stays bounded on a hostile input
                out += self._row_events()
        return out

    def _container_line(self, lineno: int, text: str) -> None:
        c = _CONTAINER.match(text)
        if c:
            self._flush_state()
            self._container = c["name"]
            return
        f = _FIELD.match(text)
        if not f:
            return
        key, value, depth = f["key"], (f["value"] or "").rstrip(), len(f["indent"])
        if depth == 4:
            self._flush_state()
            if key in ("State", "Last State"):
                self._state_key = key
                self._state = {"state": value}
                self._state_lines = [Evidence(text.strip(), self.path, lineno)]
        elif self._state_key and key in _FIELD_KEYS:
            self._state[_FIELD_KEYS[key]] = value
            if key in ("Reason", "Exit Code", "Signal"):
                self._state_lines.append(Evidence(text.strip(), self.path, lineno))

    def _event_line(self, lineno: int, text: str) -> None:
        stripped = text.strip()
        # kubectl ≥1.14: "Type Reason Age From Message"; older: "FirstSeen LastSeen Count
        # From SubObjectPath Type Reason Message".
        if re.match(r"^(?:Type\s+Reason|FirstSeen\s+LastSeen)\s", stripped):
            self._cols = _columns(text)
            return
        if self._cols is None or not stripped or set(stripped) <= {"-", " ", "\t"}:
            return
        row = _split_row(text, self._cols)
        if row is not None:
            sub = container_of_field_path(row.get("SubObjectPath") or row.get("SubObject"))
            self._rows.append(
                _record(row, "k8s-describe", Evidence(stripped, self.path, lineno), container=sub)
            )

    def finish(self) -> Iterable[KillEvent]:
        """End of input closes the open describe document."""
        return self._finish_doc()
