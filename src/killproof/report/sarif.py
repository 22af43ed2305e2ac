"""SARIF 2.1.0 for code-scanning dashboards; rule metadata comes from the rule catalog."""

from __future__ import annotations

import json
from typing import Any

from killproof.model import Finding, Report, Severity
from killproof.report import RenderOptions

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _result(f: Finding, rule_index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "level": _LEVEL[f.severity],
        "message": {"text": f.message + (f" Fix: {f.remedy}" if f.remedy else "")},
    }
    if f.rule in rule_index:
        result["ruleIndex"] = rule_index[f.rule]
    loc = f.location
    if loc.path:
        region: dict[str, int] = {}
        if loc.line:
            region["startLine"] = loc.line
            if loc.column:
                region["startColumn"] = loc.column
        physical: dict[str, Any] = {"artifactLocation": {"uri": loc.path}}
        if region:
            physical["region"] = region
        result["locations"] = [{"physicalLocation": physical}]
    elif loc.subject:
        result["locations"] = [{"logicalLocations": [{"name": loc.subject}]}]
    return result


def render(report: Report, options: RenderOptions) -> str:
    """A single-run SARIF log; only the rules that fired are listed as driver rules."""
    ids = sorted({f.rule for f in report.findings})
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    for rid in ids:
        rule = options.rules.get(rid)
        if rule is None:
            continue
        rule_index[rid] = len(rules)
        sections = rule.docs.sections()
        rules.append(
            {
                "id": rule.id,
                "name": rule.name,
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": sections["What it checks"].strip()},
                "help": {
                    "text": sections["Fix"].strip(),
                    "markdown": "\n\n".join(f"## {k}\n{v.strip()}" for k, v in sections.items()),
                },
                "defaultConfiguration": {"level": _LEVEL[rule.severity]},
            }
        )
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "killproof",
                        "version": options.tool_version,
                        "informationUri": "https://github.com/killproof/killproof",
                        "rules": rules,
                    }
                },
                "results": [_result(f, rule_index) for f in report.sorted_findings()],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
