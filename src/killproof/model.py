"""The report model every command produces and every formatter reads.

Everything here is a frozen value: findings, locations, skipped work and the report
itself. Command-specific payloads (``events`` for ``why``, ``oom``/``leak``/… for
``drill``) travel in :attr:`Report.sections` as JSON-ready data, so the JSON form of a
report is the contract between commands.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0"

JSONValue = Any
"""A value that :func:`json.dumps` accepts (kept as Any: JSON is recursive)."""


class Severity(enum.Enum):
    """How bad a finding is; ordered so that ``ERROR > WARNING > INFO``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error."""
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        """True when this severity is ``other`` or worse."""
        return self.rank >= other.rank


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True, order=True)
class Location:
    """Where a finding points: a file position, or a subject such as a pid or a pod.

    ``path`` is relative to the checked root when there is one; ``line`` and ``column``
    are 1-based, 0 when unknown.
    """

    path: str = ""
    line: int = 0
    column: int = 0
    subject: str = ""

    def __str__(self) -> str:
        if not self.path:
            return self.subject
        text = self.path
        if self.line:
            text += f":{self.line}"
            if self.column:
                text += f":{self.column}"
        if self.subject:
            text += f" ({self.subject})"
        return text


@dataclass(frozen=True, order=True)
class Evidence:
    """One quoted line (or number) that proves a finding, with where it came from."""

    text: str
    path: str = ""
    line: int = 0

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path and self.line else self.path
        return f"{where}: {self.text}" if where else self.text


@dataclass(frozen=True)
class Finding:
    """A rule's verdict on one place: frozen, comparable, serialisable."""

    rule: str
    name: str
    severity: Severity
    message: str
    location: Location = Location()
    evidence: tuple[Evidence, ...] = ()
    remedy: str = ""

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Stable order: by file, line, column, then rule id."""
        loc = self.location
        return (loc.path or loc.subject, loc.line, loc.column, self.rule, self.message)

    def to_json(self) -> dict[str, JSONValue]:
        """The finding's JSON form (key names are a public contract)."""
        loc = self.location
        return {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "path": loc.path,
            "line": loc.line,
            "column": loc.column,
            "subject": loc.subject,
            "evidence": [{"text": e.text, "path": e.path, "line": e.line} for e in self.evidence],
            "remedy": self.remedy,
        }


@dataclass(frozen=True)
class Skipped:
    """Work that was not done, and why (an unparseable file, a missing cgroup).

    ``failure`` is set for a file that *could not be read* (a parse error, an I/O error),
    as opposed to one left alone by design (a Helm template, a generated file; None):
    ``check`` reports the former as a KP001 finding of that severity at ``path``:``line``
    (root-relative, 1-based; 0 when unknown).
    """

    what: str
    reason: str
    path: str = ""
    line: int = 0
    failure: Severity | None = None

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form."""
        return {"what": self.what, "reason": self.reason}


@dataclass(frozen=True)
class Measurement:
    """A named number with its unit (``bytes``, ``seconds``, ``requests/s`` …)."""

    name: str
    value: float
    unit: str
    subject: str = ""

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form."""
        return {"name": self.name, "value": self.value, "unit": self.unit, "subject": self.subject}


@dataclass(frozen=True)
class Table:
    """A small table for humans (text, Markdown, HTML); JSON readers use ``sections``."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form: ``title``, ``columns``, ``rows`` (lists of strings)."""
        return {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
        }


@dataclass(frozen=True)
class Report:
    """The result of one command run.

    ``sections`` holds command-specific JSON-ready payloads (``events`` for ``why``;
    ``verdict``, ``oom``, ``leak`` … for ``drill``). ``summary`` is a short human headline
    the text formatter prints first.
    """

    command: str
    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    sections: Mapping[str, JSONValue] = field(default_factory=dict)
    metadata: Mapping[str, JSONValue] = field(default_factory=dict)
    summary: str = ""
    tables: tuple[Table, ...] = ()

    def sorted_findings(self) -> list[Finding]:
        """Findings in a stable order (path, line, column, rule)."""
        return sorted(self.findings, key=Finding.sort_key)

    def to_json(self) -> dict[str, JSONValue]:
        """The report's JSON form: ``schema_version`` first, then the contract keys."""
        out: dict[str, JSONValue] = {
            "schema_version": SCHEMA_VERSION,
            "command": self.command,
            "summary": self.summary,
        }
        out.update(self.sections)
        out["findings"] = [f.to_json() for f in self.sorted_findings()]
        out["skipped"] = [s.to_json() for s in self.skipped]
        out["measurements"] = [m.to_json() for m in self.measurements]
        # The human tables too, so `killproof report` re-renders a saved report in full.
        out["tables"] = [t.to_json() for t in self.tables]
        out["metadata"] = dict(self.metadata)
        return out


def counted(n: int, singular: str, plural: str = "") -> str:
    """``1 warning``, ``2 warnings``, ``1 Go file``, ``0 info`` (give ``plural`` when it
    is not ``singular + "s"``)."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def exit_code(report: Report, fail_on: Severity) -> int:
    """0 when nothing is at or above ``fail_on``, 1 otherwise (2 is for input errors)."""
    return 1 if any(f.severity.at_least(fail_on) for f in report.findings) else 0


def merge_skipped(*groups: Iterable[Skipped]) -> tuple[Skipped, ...]:
    """Concatenate skipped entries, dropping exact duplicates, keeping order."""
    seen: dict[Skipped, None] = {}
    for group in groups:
        for s in group:
            seen.setdefault(s, None)
    return tuple(seen)
