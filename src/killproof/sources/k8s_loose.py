"""Kubernetes and Docker evidence as people paste it: pieces, not documents → :class:`KillEvent`.

A bug report rarely holds a whole ``kubectl describe`` or a valid Pod document; it holds the
lines that mattered. :class:`LooseK8sParser` reads those, line by line, whatever frames them
(a table row with no header, a quoted message, a YAML or JSON or JavaScript-like fragment):

* a container's ``State:`` / ``Last State:  Terminated`` block of ``kubectl describe`` without
  its ``Name:`` header (its ``Reason``/``Exit Code``/``Signal`` lines, read by indentation);
* a ``terminated`` / ``termination`` (Kubernetes 2014) status piece, and Docker's ``"State":
  {…}``, in JSON, YAML or JavaScript-like ``Key:value,`` form (read until the block closes);
* a ``kubectl get pods`` row whose STATUS is ``OOMKilled`` or ``Evicted`` (header or not);
* the kubelet's messages wherever they stand: an eviction (``The node was low on resource:
  memory.``), a pod rejected for ``MemoryPressure`` (``killed=False``), ``System OOM
  encountered``/``Cgroup OOM encountered``, node-problem-detector's ``OOMKilling``.

An observation from one of these lines that another parser also read (the same file and
line) is dropped by :func:`killproof.why.run` in favour of the other: this parser is the
fallback, never a second voice. Every pattern is linear-time and a block is at most
:data:`MAX_BLOCK_LINES` lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence
from killproof.sources.k8s import docker_state_event, terminated_event
from killproof.sources.k8s_messages import (
    oom_watcher_events,
    parse_eviction_message,
    selection_event,
    victim_event,
)

SOURCE = "k8s-text"
"""The ``source`` of every observation of this parser (see module doc)."""
MAX_BLOCK_LINES = 40
"""A status block is read for at most this many lines (a real one has about ten)."""

_KEY = re.compile(
    r"^(?P<indent>[ \t]*)[`'\"]?(?P<key>[A-Za-z][\w -]{0,63}?)\"?[ \t]*:[ \t]*(?P<value>.*)$"
)
_STATE = re.compile(r"^(?P<indent> *)(?:Last )?State:\s+Terminated\s*$")
_POD_ROW = re.compile(
    r"^(?:[a-z0-9][a-z0-9.-]{0,252}\s+)?(?P<pod>[a-z0-9][a-z0-9.-]{0,252})\s+\d{1,3}/\d{1,3}\s+"
    r"(?P<status>OOMKilled|Evicted)(?:\s|$)"
)
_LOW_ON = "The node was low on resource: "
_PRESSURE = "The node had condition: [MemoryPressure]"
_USING = re.compile(r"Container ([\w.-]{1,253}) was using ")
_POD_REF = re.compile(r"\bpod/(?P<pod>\S.{0,252}?)(?:\s{2,}|\t|$)")
_JS_KEYS = {
    "exitcode": "exitCode",
    "reason": "reason",
    "signal": "signal",
    "finishedat": "finishedAt",
    "startedat": "startedAt",
    "oomkilled": "OOMKilled",
    "exit code": "exitCode",
    "finished": "finishedAt",
}
# Keys of the pod status structure itself: the first other key enclosing a state is the
# container's name (``"oom-test": {"state": {"termination": …}}``).
_STRUCTURE = {
    "state",
    "laststate",
    "lastterminationstate",
    "terminated",
    "termination",
    "status",
    "containerstatuses",
    "initcontainerstatuses",
    "info",
    "items",
    "object",
}


def _scalar(value: str) -> Any:
    """``137,`` → 137; ``"Error",`` → ``Error``; ``false`` → False; ``{``/empty → None."""
    text = value.strip().rstrip(",").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    if text in ("", "{", "[", "{}", "null"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    return text


class LooseK8sParser:
    """Fragments of Kubernetes/Docker evidence in any text (see module doc)."""

    # Specific enough that a journal's "… entered forwarding state" is not fed to it.
    anchors: tuple[str, ...] = (
        'State"',
        'state"',
        "State:",
        "state:",
        "terminated",
        "termination",
        "OOMKilled",
        "Evicted",
        _LOW_ON,
        _PRESSURE,
        "OOM encountered",
        "OOMKilling",
        '": {',
    )

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._opened: list[tuple[int, str]] = []  # (indent, key) of object-opening lines
        self._block: dict[str, Any] | None = None
        self._indent = 0
        self._style = ""  # "describe", "brace" or "yaml"
        self._kind = ""  # "k8s" or "docker"
        self._container: str | None = None
        self._lines: list[Evidence] = []
        self._count = 0
        self._pending: KillEvent | None = None

    @property
    def wants_context(self) -> bool:
        """True inside a status block (its fields carry no anchor) and on the line after an
        eviction message that named no container yet."""
        return self._block is not None or self._pending is not None

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line; return what it (or the block it ends) proves."""
        text = line.rstrip()
        out: list[KillEvent] = []
        if self._pending is not None:
            held, self._pending = self._pending, None
            names = _USING.findall(text)
            if len(names) == 1 and text.lstrip().startswith("Container "):
                held = held.with_changes(
                    container=names[0],
                    message=f"{held.message} {text.strip()}",
                    evidence=(*held.evidence, Evidence(text.strip(), self.path, lineno)),
                )
            out.append(held)
        if self._block is not None:
            if self._in_block(lineno, text):
                return out
            out += self._close()
        out += self._start(lineno, text)
        if self._block is None:
            out += self._line_events(lineno, text)
        return out

    def finish(self) -> Iterable[KillEvent]:
        """End of input closes an open block and hands out a held eviction."""
        out = self._close() if self._block is not None else []
        if self._pending is not None:
            out.append(self._pending)
            self._pending = None
        return out

    # -- status blocks ------------------------------------------------------------------

    def _start(self, lineno: int, text: str) -> list[KillEvent]:
        ev = Evidence(text.strip(), self.path, lineno)
        s = _STATE.match(text)
        if s:
            self._open("describe", "k8s", len(s["indent"]), ev)
            return []
        k = _KEY.match(text)
        if not k:
            return []
        indent, key, value = len(k["indent"].expandtabs()), k["key"], k["value"].strip()
        while self._opened and self._opened[-1][0] >= indent:
            self._opened.pop()
        if (value.startswith("{") or value == "") and len(self._opened) < 64:
            self._opened.append((indent, key))
        lower = key.lower()
        if lower in ("terminated", "termination") and value in ("{", ""):
            self._open("brace" if value == "{" else "yaml", "k8s", indent, ev)
        elif key == "State" and value.startswith("{"):
            self._open("brace", "docker", indent, ev)
            rest = value[1:].strip()
            if rest:
                self._in_block(lineno, rest)
        return []

    def _open(self, style: str, kind: str, indent: int, ev: Evidence) -> None:
        self._block, self._style, self._kind, self._indent = {}, style, kind, indent
        self._lines, self._count = [ev], 0
        self._container = next(
            (key for _, key in reversed(self._opened[:-1]) if key.lower() not in _STRUCTURE),
            None,
        )
        if style == "describe":
            self._container = None

    def _in_block(self, lineno: int, text: str) -> bool:
        """Read one line of the open block; False when the line is not part of it."""
        assert self._block is not None
        self._count += 1
        stripped = text.strip()
        indent = len(text) - len(text.lstrip())
        if self._count > MAX_BLOCK_LINES:
            return False
        if self._style == "brace":
            if stripped.startswith("}") and indent <= self._indent:
                return False
        elif stripped and indent <= self._indent:
            return False
        if not stripped:
            return self._style != "describe"
        for piece in stripped.split(",") if self._kind == "docker" else (stripped,):
            k = _KEY.match(piece.strip())
            if k is None:
                continue
            name = _JS_KEYS.get(k["key"].lower())
            if name is not None and name not in self._block:
                self._block[name] = _scalar(k["value"])
                if name in ("exitCode", "reason", "signal", "OOMKilled"):
                    self._lines.append(Evidence(stripped, self.path, lineno))
        return True

    def _close(self) -> list[KillEvent]:
        block, self._block = self._block or {}, None
        if block.get("reason") == "OOM Killed":  # Kubernetes 2014 spelled it with a space
            block["reason"] = "OOMKilled"
        if self._kind == "docker":
            state = {"ExitCode": block.get("exitCode"), "OOMKilled": block.get("OOMKilled")}
            ev = docker_state_event(state | {"FinishedAt": block.get("finishedAt")}, self._lines)
        else:
            base = KillEvent(cause=Cause.SIGKILL_UNKNOWN, source=SOURCE, container=self._container)
            ev = terminated_event(block, base, self._lines)
        if ev is not None and ev.source != SOURCE:
            ev = ev.with_changes(source=SOURCE)
        return [ev] if ev is not None else []

    # -- single lines -------------------------------------------------------------------

    def _line_events(self, lineno: int, text: str) -> list[KillEvent]:
        ev = Evidence(text.strip(), self.path, lineno)
        base = KillEvent(cause=Cause.SIGKILL_UNKNOWN, source=SOURCE, evidence=(ev,))
        row = _POD_ROW.match(text.strip())
        if row:
            oom = row["status"] == "OOMKilled"
            return [
                base.with_changes(
                    cause=Cause.K8S_OOMKILLED if oom else Cause.K8S_EVICTED,
                    pod=row["pod"],
                    reason=row["status"],
                )
            ]
        ref = _POD_REF.search(text)
        if ref:
            base = base.with_changes(pod=ref["pod"].strip())
        at = text.find(_LOW_ON)
        if at >= 0:
            message = text[at:].strip().strip("'\"").strip()
            usage = parse_eviction_message(message).usage_kb
            names = _USING.findall(message)
            event = base.with_changes(
                cause=Cause.K8S_EVICTED,
                reason="Evicted",
                message=message,
                container=names[0] if len(names) == 1 else None,
                usage_kb=usage.get(names[0]) if len(names) == 1 else None,
            )
            if names:
                return [event]
            self._pending = event  # the message may go on with "Container x was using" below
            return []
        if _PRESSURE in text:
            return [
                base.with_changes(
                    cause=Cause.K8S_EVICTED,
                    killed=False,
                    reason="Evicted",
                    message="the pod was rejected: the node had MemoryPressure (nothing ran)",
                )
            ]
        for reason in ("SystemOOM", "CgroupOOM"):
            lead = "System OOM" if reason == "SystemOOM" else "Cgroup OOM"
            at = text.find(lead + " encountered")
            if at >= 0:
                return oom_watcher_events(base, reason, text[at:])
        if "OOMKilling" in text:
            found = victim_event(base, text) or selection_event(base, text)
            return [found] if found is not None else []
        return []
