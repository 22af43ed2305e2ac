"""Human text for a terminal: rich when colour is on, plain otherwise."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from killproof.model import Report, Severity, Skipped
from killproof.report import RenderOptions

SHOWN_PER_GROUP = 3
"""How many files a group of skipped files names before ``…``."""

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def render(report: Report, options: RenderOptions) -> str:
    """Summary, tables, findings (errors first, then by file; with evidence and fix),
    skipped work, measurements. For ``check`` the files not read come right after the
    summary, grouped by reason (see :func:`skipped_summary`)."""
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=options.color,
        no_color=not options.color,
        color_system="standard" if options.color else None,
        width=options.width,
        highlight=False,
        emoji=False,
        soft_wrap=not options.color,
    )
    if report.summary:
        console.print(f"[bold]{escape(report.summary)}[/bold]")
        console.print()
    for table in report.tables:
        rich_table = RichTable(title=table.title, title_justify="left", show_lines=False)
        for column in table.columns:
            rich_table.add_column(column, overflow="fold")
        for row in table.rows:
            rich_table.add_row(*(escape(c) for c in row))
        console.print(rich_table)
        console.print()
    at_top = report.command == "check"
    if at_top and report.skipped:
        for line in skipped_summary(report.skipped):
            console.print(escape(line))
        console.print()
    by_severity = sorted(report.sorted_findings(), key=lambda f: -f.severity.rank)
    for f in by_severity:
        style = _STYLE[f.severity]
        where = str(f.location)
        head = f"{escape(where)}: " if where else ""
        console.print(
            f"{head}[{style}]{f.severity.value}[/{style}] "
            f"[bold]{f.rule}[/bold] {f.name}: {escape(f.message)}"
        )
        for e in f.evidence:
            console.print(f"    | {escape(str(e))}")
        if f.remedy:
            console.print(f"    fix: {escape(f.remedy)}")
    for s in () if at_top else report.skipped:
        console.print(f"skipped: {escape(s.what)}: {escape(s.reason)}")
    if report.measurements:
        console.print()
        for m in report.measurements:
            subject = f" [{escape(m.subject)}]" if m.subject else ""
            console.print(f"{escape(m.name)}{subject}: {escape(m.human())}")
    counts = {s: sum(1 for f in report.findings if f.severity is s) for s in Severity}
    if report.findings or not report.summary:
        console.print()
        console.print(
            f"{_count(len(report.findings), 'finding')}: {_count(counts[Severity.ERROR], 'error')}, "
            f"{_count(counts[Severity.WARNING], 'warning')}, {counts[Severity.INFO]} info"
        )
    return buf.getvalue()


def _count(n: int, noun: str) -> str:
    """``1 warning``, ``2 warnings``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
