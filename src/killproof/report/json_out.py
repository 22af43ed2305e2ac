"""JSON: the machine contract between commands (``schema_version`` first)."""

from __future__ import annotations

import json

from killproof.model import Report


def render(report: Report) -> str:
    """The report as indented JSON with a trailing newline."""
    return json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n"
