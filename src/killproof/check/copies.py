"""The same object in several files (a release bundle, a copy under ``kubernetes-manifests/``,
an overlay's base) is one problem: its findings are reported once, naming the copies."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from killproof.check.scope import PathKind, classify
from killproof.model import Evidence, Finding
from killproof.sources.deploy.manifests import K8sObject, ManifestSet, Workload
from killproof.sources.deploy.yamltree import iter_maps


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


def _signature(w: Workload) -> str:
    """The workload's whole document with container names blanked (canonical JSON)."""

    def blank(node: Any, container: bool = False) -> Any:
        if isinstance(node, list):
            return [blank(v) for v in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if container and key == "name":
                out[str(key)] = ""
            elif key in _LISTS and isinstance(value, list):
                out[str(key)] = [blank(v, container=True) for v in value]
            else:
                out[str(key)] = blank(value)
        return out

    return json.dumps(blank(w.obj.body), sort_keys=True, default=str)


_LISTS = frozenset({"containers", "initContainers"})


def renamed_copies(objects: Sequence[K8sObject]) -> set[int]:
    """The ids of workload objects that repeat another file's workload with only its
    containers renamed (a bundled all-in-one beside the split files): their findings
    would be the same ones again under another container name. The copy kept is the one
    in production over examples, at the shallowest path, in the file with fewest workloads
    (the split file over the bundle), then the first path."""
    groups: dict[str, list[Workload]] = {}
    per_file: dict[str, int] = {}
    for w in ManifestSet.of(o for o in objects if not o.origin).workloads:
        groups.setdefault(_signature(w), []).append(w)
        per_file[w.obj.at.path] = per_file.get(w.obj.at.path, 0) + 1
    out: set[int] = set()
    for group in groups.values():
        if len({w.obj.at.path for w in group}) < 2:
            continue
        group.sort(
            key=lambda w: (*_path_preference(w.obj.at.path), per_file[w.obj.at.path], w.obj.at.path)
        )
        kept = group[0]
        names = {c.get("name") for c in iter_maps(kept.pod_spec.get("containers"))}
        for w in group[1:]:
            if w.obj.at.path != kept.obj.at.path and names != {
                c.get("name") for c in iter_maps(w.pod_spec.get("containers"))
            }:
                out.add(id(w.obj))
    return out


def _path_preference(path: str) -> tuple[bool, int]:
    """Production over examples, shallow paths first."""
    return (classify(path).kind is PathKind.EXAMPLE, path.count("/"))
