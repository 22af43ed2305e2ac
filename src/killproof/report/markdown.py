"""Markdown, for pull-request comments and incident write-ups."""

from __future__ import annotations

from killproof.model import Report
from killproof.report import RenderOptions


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: Report, options: RenderOptions) -> str:
    """Headline, tables, then one bullet per finding with its evidence in a code block."""
    lines = [f"# killproof {report.command}", ""]
    if report.summary:
        lines += [f"**{report.summary}**", ""]
    for table in report.tables:
        lines += [f"### {table.title}", ""]
        lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
        lines.append("|" + "---|" * len(table.columns))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
        lines.append("")
    if report.findings:
        lines += ["## Findings", ""]
    for f in report.sorted_findings():
        where = f" — `{f.location}`" if str(f.location) else ""
        rule = options.rules.get(f.rule)
        title = f"[{f.rule}](#{f.rule.lower()}) {f.name}" if rule else f"{f.rule} {f.name}"
        lines.append(f"- **{f.severity.value}** {title}{where}: {f.message}")
        if f.evidence:
            lines.append("  ```")
            lines += [f"  {e}" for e in f.evidence]
            lines.append("  ```")
        if f.remedy:
            lines.append(f"  *Fix:* {f.remedy}")
    if report.skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- `{s.what}`: {s.reason}" for s in report.skipped]
    if report.measurements:
        lines += ["", "## Measurements", "", "| name | value |", "|---|---|"]
        lines += [f"| {_cell(m.name)} | {_cell(m.human())} |" for m in report.measurements]
    return "\n".join(lines).rstrip() + "\n"
