"""The same object in several files (a release bundle, a copy under ``kubernetes-manifests/``,
an overlay's base) is one problem: its findings are reported once, naming the copies."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from killproof.check.scope import PathKind, classify
from killproof.model import Evidence, Finding


def _object_of(subject: str) -> str:
    """``deploy/overlays/prod: Deployment/api container api`` → ``Deployment/api container
    api`` (the build and the example label are where the copy is, not what it is)."""
    parts = set()
    for written in subject.split("; "):
        part = written
        head, sep, rest = part.partition(": ")
        while sep and (head.startswith("example (") or " " not in head):
            part = rest
            head, sep, rest = part.partition(": ")
        parts.add(part)
    return "; ".join(sorted(parts))


def _preference(finding: Finding) -> tuple[bool, bool, int, str, int]:
    """Which copy to report at: a real line, production over examples, shallow paths."""
    loc = finding.location
    example = classify(loc.path).kind is PathKind.EXAMPLE
    return (loc.line == 0, example, loc.path.count("/"), loc.path, loc.line)


def merge_copies(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per (rule, message, object) across files; the others become evidence
    lines ``same finding in a copy``. Findings without a subject (Go code) are left alone."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    out: list[Finding] = []
    for f in findings:
        if not f.location.subject or not f.location.path:
            out.append(f)
            continue
        groups.setdefault((f.rule, f.message, _object_of(f.location.subject)), []).append(f)
    for group in groups.values():
        group.sort(key=_preference)
        first, copies = group[0], group[1:]
        seen = {(first.location.path, first.location.line)}
        extra: list[Evidence] = []
        for copy in copies:
            where = (copy.location.path, copy.location.line)
            if where not in seen:
                seen.add(where)
                extra.append(Evidence("same finding in a copy", *where))
        out.append(
            dataclasses.replace(first, evidence=(*first.evidence, *extra)) if extra else first
        )
    return out
