"""Formatters: a :class:`~killproof.model.Report` in, text out. They never print or read files."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from killproof.model import Report
from killproof.rules.base import Rule


class OutputFormat(enum.Enum):
    """The output formats every command accepts with ``--format``."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"
    HTML = "html"
    CSV = "csv"


@dataclass(frozen=True)
class SourceExcerpt:
    """A few lines of a file around a finding (HTML): ``first_line`` is the 1-based number
    of ``lines[0]``; ``line`` the one the finding names."""

    path: str
    line: int
    first_line: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class RenderOptions:
    """How to render: colour (text only), width, rule metadata (SARIF, Markdown, HTML) and
    the source excerpts the command edge read for the findings (HTML; keyed by path, line)."""

    color: bool = False
    width: int = 100
    rules: Mapping[str, Rule[Any]] = field(default_factory=dict)
    tool_version: str = "0.0.0"
    excerpts: Mapping[tuple[str, int], SourceExcerpt] = field(default_factory=dict)


def render(report: Report, fmt: OutputFormat, options: RenderOptions) -> str:
    """Render ``report`` in ``fmt``; the result ends with a newline."""
    # Each formatter is imported only when used: rich alone costs ~30 ms of start-up.
    match fmt:
        case OutputFormat.TEXT:
            from killproof.report import text

            return text.render(report, options)
        case OutputFormat.JSON:
            from killproof.report import json_out

            return json_out.render(report)
        case OutputFormat.SARIF:
            from killproof.report import sarif

            return sarif.render(report, options)
        case OutputFormat.JUNIT:
            from killproof.report import junit

            return junit.render(report)
        case OutputFormat.MARKDOWN:
            from killproof.report import markdown

            return markdown.render(report, options)
        case OutputFormat.HTML:
            from killproof.report import html

            return html.render(report, options)
        case OutputFormat.CSV:
            from killproof.report import csv_out

            return csv_out.render(report)


def format_names() -> Sequence[str]:
    """The ``--format`` choices, in declaration order."""
    return [f.value for f in OutputFormat]
