"""HTML: one self-contained page for a report, to open in a browser or attach to a ticket.

Nothing is loaded when the page is viewed: the CSS, the page's script, the vendored uPlot
(``vendor/``, refreshed by ``scripts/refresh-uplot.sh``) and the chart data are inline, and
a Content-Security-Policy forbids every fetch and every script but the page's own (by
hash), so markup smuggled in through a log line could not run even if it escaped.

Everything from the report is untrusted (it quotes logs and source files): the template
autoescapes it, and the chart data embedded in ``<script type="application/json">`` has
``<``, ``>``, ``&``, U+2028 and U+2029 escaped (:func:`script_json`).

The only files read are the package's own (template, script, uPlot), once per process;
source excerpts are read by the command edge and passed in :class:`RenderOptions`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
import markupsafe

from killproof.model import Finding, Report, Severity, Table, counted
from killproof.report import RenderOptions, SourceExcerpt
from killproof.report import html_charts as charts
from killproof.report.text import human

RECOMMENDATION_COLUMNS = ("setting", "current", "recommended", "formula", "inputs")
"""The plan contract: a ``recommendations`` section lists objects with these keys."""


@dataclass(frozen=True)
class Verdict:
    """The banner on top: a word (PASS, FAIL, ERRORS …), its tone and the headline."""

    word: str
    tone: str
    """``pass``, ``fail``, ``warn`` or ``info``: the banner's colour."""
    headline: str


@dataclass(frozen=True)
class FindingGroup:
    """The findings of one severity, in report order, with their source excerpts."""

    severity: str
    findings: tuple[tuple[Finding, SourceExcerpt | None], ...]


def verdict(report: Report) -> Verdict:
    """The drill's pass/fail; for other commands the worst severity found."""
    headline = report.summary or severity_counts(report)
    if not report.summary:  # a report saved before summaries were kept: name the errors
        errors = dict.fromkeys(f.name for f in report.findings if f.severity is Severity.ERROR)
        headline += f" ({', '.join(errors)})" if errors else ""
    drill = report.sections.get("verdict")
    if drill in ("pass", "fail") and report.sections.get("interrupted") is True:
        return Verdict("INTERRUPTED", "warn", headline)
    if drill in ("pass", "fail"):
        return Verdict(str(drill).upper(), str(drill), headline)
    if charts.items(report.sections.get("recommendations")):
        return Verdict("PLAN", "info", headline)
    workloads = report.sections.get("workloads")
    if report.command == "fleet" and isinstance(workloads, list):  # a ranking, not findings
        at_risk = any(isinstance(w, dict) and w.get("score", 0) > 0 for w in workloads)
        if at_risk:
            return Verdict("AT RISK", "warn", headline)
    worst = max((f.severity.rank for f in report.findings), default=-1)
    if worst == Severity.ERROR.rank:
        return Verdict("ERRORS", "fail", headline)
    if worst == Severity.WARNING.rank:
        return Verdict("WARNINGS", "warn", headline)
    return Verdict("CLEAN", "pass", headline)


def severity_counts(report: Report) -> str:
    """``3 findings: 1 error, 2 warnings, 0 info``."""
    counts = {s: sum(1 for f in report.findings if f.severity is s) for s in Severity}
    return (
        f"{counted(len(report.findings), 'finding')}: {counted(counts[Severity.ERROR], 'error')}, "
        f"{counted(counts[Severity.WARNING], 'warning')}, {counts[Severity.INFO]} info"
    )


def finding_groups(report: Report, options: RenderOptions) -> list[FindingGroup]:
    """Errors, then warnings, then info; each finding with the excerpt of its line."""
    groups = []
    for severity in sorted(Severity, key=lambda s: -s.rank):
        found = [f for f in report.sorted_findings() if f.severity is severity]
        if found:
            rows = tuple(
                (f, options.excerpts.get((f.location.path, f.location.line))) for f in found
            )
            groups.append(FindingGroup(severity.value, rows))
    return groups


def recommendation_table(sections: Mapping[str, Any]) -> Table | None:
    """``plan``'s recommendations as a table (inputs as ``name = value`` lines)."""
    rows = []
    for rec in charts.items(sections.get("recommendations")):
        cells = [_cell(rec.get(key)) for key in RECOMMENDATION_COLUMNS[:4]]
        rows.append((*cells, _inputs(rec.get("inputs"))))
    return Table("Recommendations", RECOMMENDATION_COLUMNS, tuple(rows)) if rows else None


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _inputs(value: object) -> str:
    if isinstance(value, Mapping):
        return "\n".join(f"{k} = {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(_cell(v) for v in value)
    return _cell(value)


def script_json(value: object) -> str:
    """``value`` as JSON that is safe inside ``<script>``: no ``</script>``, no ``<!--``, no
    line separators a JavaScript parser would take for the end of a line."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escaped)
    return text


@functools.cache
def _asset(name: str) -> str:
    """A file shipped in the package (template, script, vendored uPlot)."""
    return resources.files("killproof.report").joinpath(name).read_text(encoding="utf-8")


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["human"] = human
    return env.from_string(_asset("templates/report.html.j2"))


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render(report: Report, options: RenderOptions) -> str:
    """The report as one HTML page (UTF-8, ends with a newline)."""
    sections = report.sections
    line_charts = [
        chart
        for chart in (
            charts.memory_chart(sections, report.metadata),
            charts.goroutine_chart(sections),
            charts.latency_chart(sections),
        )
        if chart is not None
    ]
    # uPlot (~50 KB) only when there is a line chart to draw: a check report stays small.
    uplot = _asset("vendor/uPlot.iife.min.js") if line_charts else ""
    page_script = _asset("templates/report.js")
    tables = list(report.tables)
    recommendations = recommendation_table(sections)
    if recommendations is not None:
        tables.insert(0, recommendations)
    fired = {f.rule: options.rules[f.rule] for f in report.findings if f.rule in options.rules}
    return _template().render(
        report=report,
        verdict=verdict(report),
        counts=severity_counts(report),
        groups=finding_groups(report, options),
        tables=tables,
        line_charts=line_charts,
        heap=charts.heap_sites(sections),
        shutdown=charts.shutdown_timeline(sections),
        rules=[fired[rid] for rid in sorted(fired)],
        metadata={k: _cell(v) for k, v in report.metadata.items()},
        chart_json=script_json([c.to_json() for c in line_charts]),
        uplot_css=_asset("vendor/uPlot.min.css") if line_charts else "",
        uplot_js=uplot,
        page_js=page_script,
        # Hashes are base64 in quotes: markup-safe, and quoted as CSP wants them.
        csp_scripts=markupsafe.Markup(" ".join(_csp_hash(s) for s in (uplot, page_script) if s)),
    )
