"""Markdown, for pull-request comments and incident write-ups.

Headings go one level at a time (``#`` title, ``##`` sections, ``###`` under a section),
and every link points at a heading of the same document (the ``## Rules`` section at the
end explains each rule that fired), so the page reads right wherever it is pasted.
"""

from __future__ import annotations

import re

from killproof.model import Report
from killproof.report import RenderOptions
from killproof.report.text import human, in_order


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def anchor(heading: str) -> str:
    """The fragment GitHub (and most renderers) give a heading: lower case, spaces to
    ``-``, punctuation other than ``-`` and ``_`` dropped."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def render(report: Report, options: RenderOptions) -> str:
    """Headline, tables, then one bullet per finding with its evidence in a code block,
    then the rules that fired."""
    lines = [f"# killproof {report.command}", ""]
    if report.summary:
        lines += [f"**{report.summary}**", ""]
    for table in report.tables:
        lines += [f"## {table.title}", ""]
        if not any(c.strip() for c in table.columns):  # key/value: a list, no empty header
            items: list[str] = []
            for row in table.rows:  # a row without a key continues the one above (wrapped)
                if not row[0] and items:
                    items[-1] += f" {' '.join(row[1:])}"
                else:
                    items.append(f"- **{row[0]}**: {' '.join(row[1:])}")
            lines += [*items, ""]
            continue
        lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
        lines.append("|" + "---|" * len(table.columns))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
        lines.append("")
    if report.findings:
        lines += ["## Findings", ""]
    fired: dict[str, str] = {}
    for f in sorted(in_order(report), key=lambda f: -f.severity.rank):
        where = f" — `{f.location}`" if str(f.location) else ""
        rule = options.rules.get(f.rule)
        if rule is not None:
            heading = f"{rule.id} {rule.name}"
            fired[rule.id] = heading
            title = f"[{f.rule}](#{anchor(heading)}) {f.name}"
        else:
            title = f"{f.rule} {f.name}"
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
        lines += [f"| {_cell(m.name)} | {human(m.value, m.unit)} |" for m in report.measurements]
    if fired:
        lines += ["", "## Rules", ""]
        for rid, heading in sorted(fired.items()):
            rule = options.rules[rid]
            fix = rule.docs.sections()["Fix"].strip()
            lines += [f"### {heading}", "", rule.summary, "", f"*Fix:* {fix}", ""]
        lines.append("Every rule: `killproof rules`; one rule in full: `killproof explain ID`.")
    return "\n".join(lines).rstrip() + "\n"
