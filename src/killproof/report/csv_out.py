"""CSV for spreadsheets: the report's first table (``fleet``'s ranking, …), else one row
per finding. Header row first; RFC 4180 quoting, ``\\n`` line ends."""

from __future__ import annotations

import csv
import io

from killproof.model import Report

FINDING_COLUMNS = ("rule", "severity", "path", "line", "subject", "message")


def render(report: Report) -> str:
    """The first table of ``report`` (or its findings) as CSV text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if report.tables:
        table = report.tables[0]
        writer.writerow(table.columns)
        writer.writerows(table.rows)
    else:
        writer.writerow(FINDING_COLUMNS)
        for f in report.sorted_findings():
            loc = f.location
            writer.writerow((f.rule, f.severity.value, loc.path, loc.line, loc.subject, f.message))
    return buf.getvalue()
