"""JUnit XML: one test case per finding (a failure), so CI dashboards show them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from killproof.model import Report, Severity


def render(report: Report) -> str:
    """One ``testsuite`` named after the command; findings at warning or above are failures."""
    findings = report.sorted_findings()
    failures = sum(1 for f in findings if f.severity.at_least(Severity.WARNING))
    suite = ET.Element(
        "testsuite",
        name=f"killproof {report.command}",
        tests=str(max(len(findings), 1)),
        failures=str(failures),
        errors="0",
        skipped=str(len(report.skipped)),
    )
    if not findings:
        ET.SubElement(
            suite, "testcase", name="no findings", classname=f"killproof.{report.command}"
        )
    for f in findings:
        case = ET.SubElement(
            suite, "testcase", name=f"{f.rule} {f.location}", classname=f"killproof.{f.rule}"
        )
        body = "\n".join([f.message, *(str(e) for e in f.evidence), f"fix: {f.remedy}"])
        tag = "failure" if f.severity.at_least(Severity.WARNING) else "system-out"
        node = ET.SubElement(case, tag)
        if tag == "failure":
            node.set("message", f.message)
            node.set("type", f.severity.value)
        node.text = body
    for s in report.skipped:
        case = ET.SubElement(suite, "testcase", name=s.what, classname="killproof.skipped")
        ET.SubElement(case, "skipped", message=s.reason)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
