"""Human text for a terminal: rich when colour is on, plain otherwise."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from killproof.model import Finding, Report, Severity, Skipped, Table, counted
from killproof.report import RenderOptions

SHOWN_PER_GROUP = 3
"""How many files a group of skipped files names before ``…``."""

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def render(report: Report, options: RenderOptions) -> str:
    """Summary, tables, findings (errors first, then by file; with evidence and fix),
    skipped work, measurements. For ``check`` the files not read come right after the
    summary, grouped by reason (see :func:`skipped_summary`)."""
    buf = io.StringIO()
    # soft_wrap: a finding line is never broken at the terminal width (its path:line stays
    # clickable and greppable), with colour or without; NO_COLOR changes colour only.
    console = _console(buf, options.color, options.width)
    if report.summary:
        console.print(f"[bold]{escape(report.summary)}[/bold]")
        console.print()
    for table in report.tables:
        buf.write(_table(table, options))
        console.print()
    at_top = report.command == "check"
    if at_top and report.skipped:
        for line in skipped_summary(report.skipped):
            console.print(escape(line))
        console.print()
    by_severity = sorted(in_order(report), key=lambda f: -f.severity.rank)
    for f in by_severity:
        style = _STYLE[f.severity]
        where = str(f.location)
        head = f"{escape(where)}: " if where else ""
        console.print(
            f"{head}[{style}]{f.severity.value}[/{style}] "
            f"[bold]{f.rule}[/bold] {f.name}: {escape(f.message)}",
            soft_wrap=True,
        )
        for e in f.evidence:
            console.print(f"    | {escape(str(e))}", soft_wrap=True)
        if f.remedy:
            console.print(f"    fix: {escape(f.remedy)}", soft_wrap=True)
    for s in () if at_top else report.skipped:
        console.print(f"skipped: {escape(s.what)}: {escape(s.reason)}")
    if report.measurements:
        console.print()
        for m in report.measurements:
            subject = f" [{escape(m.subject)}]" if m.subject else ""
            console.print(f"{escape(m.name)}{subject}: {escape(human(m.value, m.unit))}")
    counts = {s: sum(1 for f in report.findings if f.severity is s) for s in Severity}
    # check's summary already counts by severity: the counts are printed once.
    if (report.findings or not report.summary) and report.command != "check":
        console.print()
        console.print(
            f"{counted(len(report.findings), 'finding')}: "
            f"{counted(counts[Severity.ERROR], 'error')}, "
            f"{counted(counts[Severity.WARNING], 'warning')}, {counts[Severity.INFO]} info"
        )
    return buf.getvalue()


def in_order(report: Report) -> list[Finding]:
    """The findings in the order a person reads them (before the severity sort, which is
    stable): ``why`` lists its kills newest first as it made them; every other command by
    file and line."""
    return list(report.findings) if report.command == "why" else report.sorted_findings()


def _console(file: io.StringIO, color: bool, width: int) -> Console:
    return Console(
        file=file,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        width=width,
        highlight=False,
        emoji=False,
        soft_wrap=True,
    )


def _table(table: Table, options: RenderOptions) -> str:
    """One table, as wide as its cells need (a cell never breaks inside a word or an
    identifier, even when that is wider than the terminal); a key/value table (no column
    titles) has no header row."""
    has_header = any(c.strip() for c in table.columns)
    rich_table = RichTable(
        title=escape(table.title), title_justify="left", show_lines=False, show_header=has_header
    )
    for column in table.columns:
        rich_table.add_column(escape(column), no_wrap=True, overflow="ignore")
    for row in table.rows:
        rich_table.add_row(*(escape(c) for c in row))
    needed = _console(io.StringIO(), False, 100_000).measure(rich_table).maximum
    out = io.StringIO()
    _console(out, options.color, max(needed, 20)).print(rich_table)
    return out.getvalue()


_BINARY = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def human(value: float, unit: str) -> str:
    """A measurement for a person: bytes in KiB/MiB/GiB (``64.0 MiB``), seconds with one
    decimal (``5.0 s``; milliseconds below one second), other units as ``1234 requests/s``."""
    if unit == "bytes":
        for name, size in _BINARY:
            if abs(value) >= size:
                return f"{value / size:.1f} {name}"
        return f"{value:.0f} bytes"
    if unit == "seconds":
        if 0 < abs(value) < 1:
            return f"{value * 1000:.0f} ms"
        return f"{value:.1f} s"
    return f"{value:g} {unit}"


def skipped_summary(skipped: Sequence[Skipped]) -> list[str]:
    """What was not read, grouped by reason (largest group first): one line per reason
    with how many files and the first few, so the command a reason names is printed once."""
    groups: dict[str, list[str]] = {}
    for s in skipped:
        groups.setdefault(s.reason, []).append(s.what)
    lines = [f"not read ({len(skipped)}):"]
    for reason, whats in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        if len(whats) == 1:
            lines.append(f"  {whats[0]}: {reason}")
            continue
        shown = ", ".join(whats[:SHOWN_PER_GROUP])
        more = f", … {len(whats) - SHOWN_PER_GROUP} more" if len(whats) > SHOWN_PER_GROUP else ""
        lines.append(f"  {len(whats)} files: {reason} ({shown}{more})")
    return lines
