"""``killproof report REPORT.json``: render a saved JSON report again (HTML, text, Markdown…).

``killproof drill … --format json -o drill.json`` keeps a run; ``killproof report drill.json
--format html -o drill.html`` turns it into the page to attach to a ticket. Also here: the
source excerpts the HTML report shows under each finding (this module is the edge that
reads files; the formatter only receives them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from killproof.commands.common import emit, output_options
from killproof.errors import InputError
from killproof.model import (
    SCHEMA_VERSION,
    Evidence,
    Finding,
    Location,
    Measurement,
    Report,
    Severity,
    Skipped,
    Table,
)
from killproof.report import SourceExcerpt

REPORT_MAX_BYTES = 256 << 20
"""A saved report larger than this is refused (a drill's is well under a megabyte)."""
EXCERPT_CONTEXT = 2
"""Lines shown before and after the line a finding names."""
EXCERPT_FILE_MAX_BYTES = 4 << 20
"""Files larger than this are not read for an excerpt (generated code, data)."""
_CONTRACT_KEYS = frozenset(
    ("schema_version", "command", "summary", "findings", "skipped", "measurements",
     "tables", "metadata")
)  # fmt: skip


@click.command("report")
@click.argument("saved", type=click.Path(dir_okay=False, path_type=Path), metavar="REPORT.json")
@output_options(default_fail_on="none")
def command(saved: Path, fmt: str, output: Path | None, fail_on: str) -> int:
    """Render a saved JSON report (from any command's --format json) in another format.

    \b
      killproof drill examples/orders --format json -o drill.json
      killproof report drill.json --format html -o drill.html
    """
    try:
        with saved.open("rb") as handle:
            data = handle.read(REPORT_MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", str(saved)) from exc
    if len(data) > REPORT_MAX_BYTES:
        raise InputError(f"larger than {REPORT_MAX_BYTES >> 20} MiB: not read", str(saved))
    return emit(report_from_json(data, str(saved)), fmt, output, fail_on)


def report_from_json(data: bytes | str, where: str = "<report>") -> Report:
    """The :class:`Report` a command's ``--format json`` output describes.

    Raises :class:`InputError` (naming ``where``) for anything that is not such a report:
    not JSON, not an object, another major schema version, a finding of unknown severity.
    """
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON ({exc})", where) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("command"), str):
        raise InputError('not a killproof JSON report (no "command")', where)
    version = str(raw.get("schema_version", ""))
    if version.split(".", maxsplit=1)[0] != SCHEMA_VERSION.split(".", maxsplit=1)[0]:
        raise InputError(
            f"schema_version {version or 'missing'}; this killproof reads {SCHEMA_VERSION}",
            where,
        )
    try:
        return Report(
            command=raw["command"],
            findings=tuple(_finding(f) for f in _objects(raw.get("findings"))),
            skipped=tuple(
                Skipped(str(s.get("what", "")), str(s.get("reason", "")))
                for s in _objects(raw.get("skipped"))
            ),
            measurements=tuple(_measurement(m) for m in _objects(raw.get("measurements"))),
            sections={k: v for k, v in raw.items() if k not in _CONTRACT_KEYS},
            metadata=raw["metadata"] if isinstance(raw.get("metadata"), dict) else {},
            summary=str(raw.get("summary") or ""),
            tables=tuple(_table(t) for t in _objects(raw.get("tables"))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"not a killproof JSON report ({type(exc).__name__}: {exc})", where
        ) from exc


def _objects(value: object) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TypeError("expected a list of objects")
    return value


def _finding(raw: Mapping[str, Any]) -> Finding:
    return Finding(
        rule=str(raw["rule"]),
        name=str(raw.get("name", "")),
        severity=Severity(raw["severity"]),
        message=str(raw.get("message", "")),
        location=Location(
            path=str(raw.get("path") or ""),
            line=int(raw.get("line") or 0),
            column=int(raw.get("column") or 0),
            subject=str(raw.get("subject") or ""),
        ),
        evidence=tuple(
            Evidence(str(e.get("text", "")), str(e.get("path") or ""), int(e.get("line") or 0))
            for e in _objects(raw.get("evidence"))
        ),
        remedy=str(raw.get("remedy") or ""),
    )


def _measurement(raw: Mapping[str, Any]) -> Measurement:
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"measurement value {value!r} is not a number")
    # An int stays an int (as the command wrote it), so the JSON renders again unchanged.
    return Measurement(
        str(raw["name"]), value, str(raw.get("unit", "")), str(raw.get("subject", ""))
    )


def _table(raw: Mapping[str, Any]) -> Table:
    columns = raw.get("columns")
    rows = raw.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise TypeError("a table needs columns and rows")
    return Table(
        title=str(raw.get("title", "")),
        columns=tuple(str(c) for c in columns),
        rows=tuple(tuple(str(c) for c in row) for row in rows if isinstance(row, list)),
    )


def read_excerpts(
    report: Report, root: Path, context: int = EXCERPT_CONTEXT
) -> dict[tuple[str, int], SourceExcerpt]:
    """A few lines around each finding's ``path:line``, for files that can be read.

    Only regular files inside ``root`` (the working directory) are read, so a saved report
    from elsewhere cannot pull, say, ``/etc/shadow`` into a page that is then shared; a
    path that is absent, outside, too large or not text gives no excerpt.
    """
    wanted: dict[str, set[int]] = {}
    for f in report.findings:
        if f.location.path and f.location.line > 0:
            wanted.setdefault(f.location.path, set()).add(f.location.line)
    out: dict[tuple[str, int], SourceExcerpt] = {}
    base = root.resolve()
    for path, lines in sorted(wanted.items()):
        text = _read_inside(base, path)
        if text is None:
            continue
        all_lines = text.splitlines()
        for line in _within(lines, len(all_lines)):
            first = max(1, line - context)
            shown = tuple(all_lines[first - 1 : line + context])
            out[(path, line)] = SourceExcerpt(path, line, first, shown)
    return out


def _within(lines: Iterable[int], count: int) -> list[int]:
    return sorted(n for n in lines if 0 < n <= count)


def _read_inside(base: Path, path: str) -> str | None:
    try:
        full = (base / path).resolve()
        if not full.is_relative_to(base) or not full.is_file():
            return None
        if full.stat().st_size > EXCERPT_FILE_MAX_BYTES:
            return None
        data = full.read_bytes()
    except (OSError, ValueError):
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")
