"""The plan as a change to the deploy files: a kustomize patch, or an in-place edit.

``--write-patch DIR`` writes a strategic-merge patch of the workload, a kustomization that
applies it to the manifest (and an HPA when ``--target-rps`` asked for one). ``--in-place``
edits the manifest with ruamel.yaml's round-trip loader, which keeps comments, quotes and
layout; the edit is refused when any line other than the changed values would differ.
"""

from __future__ import annotations

import difflib
import io
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from killproof.errors import InputError
from killproof.plan.alerts import to_yaml
from killproof.plan.deployed import Deployed
from killproof.plan.model import Plan, Recommendation, Setting

PATCH_NAME = "patch.yaml"
HPA_NAME = "hpa.yaml"
_RESOURCES = {
    Setting.MEMORY_REQUEST: ("requests", "memory"),
    Setting.MEMORY_LIMIT: ("limits", "memory"),
    Setting.CPU_REQUEST: ("requests", "cpu"),
    Setting.CPU_LIMIT: ("limits", "cpu"),
}
_ENV = {Setting.GOMEMLIMIT: "GOMEMLIMIT", Setting.GOGC: "GOGC", Setting.GOMAXPROCS: "GOMAXPROCS"}


@dataclass(frozen=True)
class Changes:
    """What to write into the workload, from the plan (only settings it recommends)."""

    resources: dict[tuple[str, str], str]
    env_set: dict[str, str]
    env_unset: tuple[str, ...]
    prestop_s: int | None
    grace_s: int | None
    replicas: int | None
    hpa_max: int | None


def changes_of(plan: Plan) -> Changes:
    """The values to write: every recommended resource, and the other settings that change."""

    def wanted(r: Recommendation | None) -> bool:
        return r is not None and r.changes and r.value is not None

    resources = {
        key: str(r.recommended)
        for setting, key in _RESOURCES.items()
        if (r := plan.get(setting)) is not None and r.recommended is not None
    }
    env_set: dict[str, str] = {}
    for setting, name in _ENV.items():
        r = plan.get(setting)
        if r is None or r.recommended in (None, "unset") or not r.changes:
            continue
        if setting is Setting.GOGC and r.current is None:
            continue  # "100" is the default: nothing to write
        env_set[name] = str(r.recommended)
    env_unset = tuple(
        name
        for setting, name in _ENV.items()
        if (r := plan.get(setting)) is not None and r.recommended == "unset" and r.current
    )
    prestop, grace, replicas, hpa = (
        plan.get(s) for s in (Setting.PRESTOP, Setting.GRACE, Setting.REPLICAS, Setting.HPA)
    )
    return Changes(
        resources=resources,
        env_set=env_set,
        env_unset=env_unset,
        prestop_s=int(prestop.value) if wanted(prestop) and prestop and prestop.value else None,
        grace_s=int(grace.value) if wanted(grace) and grace and grace.value else None,
        replicas=int(replicas.value) if replicas and replicas.value else None,
        hpa_max=int(hpa.value) if hpa and hpa.value else None,
    )


def strategic_patch(now: Deployed, c: Changes) -> dict[str, Any]:
    """A strategic-merge patch of the workload (containers and env merge by ``name``)."""
    container: dict[str, Any] = {"name": now.container}
    if c.resources:
        res: dict[str, dict[str, str]] = {}
        for (section, name), value in sorted(c.resources.items(), reverse=True):
            res.setdefault(section, {})[name] = value
        container["resources"] = {k: res[k] for k in ("requests", "limits") if k in res}
    env = [{"name": k, "value": v} for k, v in c.env_set.items()]
    env += [{"name": k, "$patch": "delete"} for k in c.env_unset]
    if env:
        container["env"] = env
    if c.prestop_s is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": c.prestop_s}}}
    pod: dict[str, Any] = {}
    if c.grace_s is not None:
        pod["terminationGracePeriodSeconds"] = c.grace_s
    pod["containers"] = [container]
    metadata: dict[str, Any] = {"name": now.name}
    if now.namespace and now.namespace != "default":
        metadata["namespace"] = now.namespace
    spec: dict[str, Any] = {}
    if c.replicas is not None:
        spec["replicas"] = c.replicas
    spec["template"] = {"spec": pod}
    api = "v1" if now.kind == "Pod" else "apps/v1"
    if now.kind == "Pod":
        return {"apiVersion": api, "kind": "Pod", "metadata": metadata, "spec": pod}
    return {"apiVersion": api, "kind": now.kind, "metadata": metadata, "spec": spec}


def hpa(now: Deployed, c: Changes) -> dict[str, Any] | None:
    """An autoscaling/v2 HPA on CPU at 70 % of the request, when the plan has one."""
    if c.replicas is None or c.hpa_max is None:
        return None
    metadata: dict[str, Any] = {"name": now.name}
    if now.namespace and now.namespace != "default":
        metadata["namespace"] = now.namespace
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": now.kind, "name": now.name},
            "minReplicas": c.replicas,
            "maxReplicas": c.hpa_max,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def patch_files(plan: Plan, now: Deployed, directory: Path) -> dict[str, str]:
    """File name → text of the patch directory (kustomization.yaml, patch.yaml, hpa.yaml)."""
    c = changes_of(plan)
    manifest = Path(now.path)
    relative = os.path.relpath(manifest.resolve(), directory.resolve())
    files = {PATCH_NAME: to_yaml(strategic_patch(now, c))}
    resources = [Path(relative).as_posix()]
    autoscaler = hpa(now, c)
    if autoscaler is not None:
        files[HPA_NAME] = to_yaml(autoscaler)
        resources.append(HPA_NAME)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "patches": [{"path": PATCH_NAME}],
    }
    head = (
        "# Written by killproof plan. A manifest outside this directory needs\n"
        "#   kubectl kustomize --load-restrictor LoadRestrictionsNone DIR\n"
    )
    files["kustomization.yaml"] = head + to_yaml(kustomization)
    return files


def write_patch(plan: Plan, now: Deployed, directory: Path) -> list[Path]:
    """Write :func:`patch_files` into ``directory`` (created); the paths written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in patch_files(plan, now, directory).items():
            (directory / name).write_text(text, encoding="utf-8")
            written.append(directory / name)
    except OSError as exc:
        raise InputError(f"cannot write the patch: {exc.strerror}", str(directory)) from exc
    return written


# -- in place -------------------------------------------------------------------------


def _same_style(old: Any, new: str) -> Any:
    if isinstance(old, DoubleQuotedScalarString):
        return DoubleQuotedScalarString(new)
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(new)
    return new


def _line_of(node: CommentedMap, key: str) -> int | None:
    try:
        return int(node.lc.value(key)[0]) if key in node else None
    except (AttributeError, KeyError, TypeError):
        return None


class _Editor:
    """Applies :class:`Changes` to round-trip nodes, noting the original lines replaced."""

    def __init__(self) -> None:
        self.replaced: set[int] = set()

    def put(self, node: CommentedMap, key: str, value: Any) -> None:
        line = _line_of(node, key)
        if line is not None:
            if node[key] == value:
                return
            self.replaced.add(line)
            node[key] = _same_style(node[key], value) if isinstance(value, str) else value
        else:
            node[key] = value

    def child(self, node: CommentedMap, key: str) -> CommentedMap:
        if not isinstance(node.get(key), CommentedMap):
            self.put(node, key, CommentedMap())
        value = node[key]
        assert isinstance(value, CommentedMap)
        return value

    def env(self, container: CommentedMap, c: Changes) -> None:
        if not c.env_set and not c.env_unset:
            return
        if not isinstance(container.get("env"), CommentedSeq):
            self.put(container, "env", CommentedSeq())
        items = container["env"]
        for name, value in c.env_set.items():
            entry = next(
                (e for e in items if isinstance(e, CommentedMap) and e.get("name") == name), None
            )
            if entry is None:
                items.append(CommentedMap([("name", name), ("value", value)]))
            else:
                self.put(entry, "value", value)
        for name in c.env_unset:
            for i, e in enumerate(list(items)):
                if isinstance(e, CommentedMap) and e.get("name") == name:
                    start = int(e.lc.line)
                    self.replaced.update(range(start, start + 2))
                    del items[i]


def _workload_doc(docs: list[Any], now: Deployed) -> CommentedMap:
    for doc in docs:
        meta = doc.get("metadata") if isinstance(doc, CommentedMap) else None
        if isinstance(meta, dict) and doc.get("kind") == now.kind and meta.get("name") == now.name:
            assert isinstance(doc, CommentedMap)
            return doc
    raise InputError(f"no {now.kind}/{now.name} in the manifest", now.path)


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them: from the
    first key whose block starts on the next line (kubectl's style when none is found)."""
    mapping = offset = None
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    for line, following in itertools.pairwise(lines):
        if not line.rstrip().endswith(":"):
            continue
        depth = len(line) - len(line.lstrip())
        inner = len(following) - len(following.lstrip())
        if inner <= depth and not following.lstrip().startswith("- "):
            continue
        if following.lstrip().startswith("- "):
            offset = offset if offset is not None else inner - depth
        elif mapping is None:
            mapping = inner - depth
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    offset = 2 if offset is None else offset
    return mapping, offset + 2, offset


def edit_in_place_text(text: str, plan: Plan, now: Deployed) -> str:
    """The manifest text with the plan applied; InputError when the round trip would
    change any line other than the values it sets."""
    c = changes_of(plan)
    mapping, sequence, offset = _guess_indent(text)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    docs = list(yaml.load_all(text))
    doc = _workload_doc(docs, now)
    edit = _Editor()
    spec = doc["spec"] if now.kind == "Pod" else doc["spec"]["template"]["spec"]
    if c.replicas is not None and now.kind != "Pod":
        edit.put(doc["spec"], "replicas", c.replicas)
    if c.grace_s is not None:
        edit.put(spec, "terminationGracePeriodSeconds", c.grace_s)
    container = next(x for x in spec["containers"] if x.get("name") == now.container)
    if c.resources:
        res = edit.child(container, "resources")
        for (section, name), value in c.resources.items():
            edit.put(edit.child(res, section), name, value)
    edit.env(container, c)
    if c.prestop_s is not None:
        hook = edit.child(edit.child(container, "lifecycle"), "preStop")
        edit.put(edit.child(hook, "sleep"), "seconds", c.prestop_s)
    out = io.StringIO()
    yaml.dump_all(docs, out)
    new = out.getvalue()
    _check_only_values(text, new, edit.replaced, now.path)
    return new


def _check_only_values(old: str, new: str, replaced: set[int], path: str) -> None:
    """Every line removed from ``old`` must be one the edit replaced (0-based numbers)."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            stray = [n for n in range(i1, i2) if n not in replaced]
            if stray:
                raise InputError(
                    "an in-place edit would reformat this line (use --write-patch)",
                    path,
                    stray[0] + 1,
                )


def edit_in_place(plan: Plan, now: Deployed) -> Path:
    """Apply the plan to the manifest file itself; the path edited."""
    path = Path(now.path)
    try:
        text = path.read_text(encoding="utf-8")
        path.write_text(edit_in_place_text(text, plan, now), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot edit the manifest: {exc.strerror}", str(path)) from exc
    return path
