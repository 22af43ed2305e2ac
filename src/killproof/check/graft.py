"""Lines for objects built by the kustomize binary, whose output is in no file.

Each built object is matched with the object it came from (same kind; same name, or the
name with a ``namePrefix``/``nameSuffix``), and every key whose value the overlay did not
change gets the source's line. A value the overlay changed points at the kustomization's
patch list (the line to read). So a finding on a field the overlay left alone lands on the
base's line — and merges with the base's own finding there — instead of on
``kustomization.yaml:0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from killproof.sources.deploy.manifests import K8sObject, tree_distance
from killproof.sources.deploy.yamltree import Pos, YList, YMap

PATCH_KEYS = (
    "patches", "patchesStrategicMerge", "patchesJson6902", "transformers", "replacements",
    "components", "helmCharts", "images", "replicas", "resources",
)  # fmt: skip
"""Kustomization keys, in the order a changed value is most likely to come from."""


def patch_line(kustomization: Any) -> int:
    """The line of the first patch-like key of a parsed kustomization (1 when none)."""
    if isinstance(kustomization, YMap):
        for key in PATCH_KEYS:
            if key in kustomization:
                return kustomization.pos(key).line
    return 1


def source_of(built: K8sObject, sources: Sequence[K8sObject], near: str) -> K8sObject | None:
    """The object ``built`` was made from: same kind, the longest name it contains at its
    start or end, then the file nearest to ``near`` (the kustomization's path)."""
    best: tuple[int, int] | None = None
    found: K8sObject | None = None
    for src in sources:
        if src.kind != built.kind or src.at.line <= 0 or not src.name:
            continue
        if not (built.name.startswith(src.name) or built.name.endswith(src.name)):
            continue
        distance = tree_distance(src.at.path, near)
        score = (len(src.name), -(distance if distance is not None else 99))
        if best is None or score > best:
            best, found = score, src
    return found


def graft(built: Any, source: Any, changed: Pos) -> None:
    """Give ``built`` (a YMap/YList tree) the positions of ``source`` where the values are
    the same, and ``changed`` where the overlay changed them or added them."""
    if isinstance(built, YMap):
        built.at = source.at if isinstance(source, YMap) else changed
        for key, value in built.items():
            theirs = source.get(key) if isinstance(source, YMap) else None
            same = isinstance(source, YMap) and key in source and _same(value, theirs)
            built.key_at[key] = source.pos(key) if same else changed
            graft(value, theirs, changed)
    elif isinstance(built, YList):
        built.at = source.at if isinstance(source, YList) else changed
        items = list(source) if isinstance(source, YList) else []
        for index, value in enumerate(built):
            match = _item_match(value, index, items)
            theirs = items[match] if match is not None else None
            at = changed
            if match is not None and isinstance(source, YList) and _same(value, theirs):
                at = source.item_at[match]
            if index < len(built.item_at):
                built.item_at[index] = at
            graft(value, theirs, changed)


def _same(mine: Any, theirs: Any) -> bool:
    """Containers are compared key by key below; scalars by their text."""
    if isinstance(mine, YMap | YList):
        return isinstance(theirs, type(mine))
    return theirs is not None and str(mine) == str(theirs)


def _item_match(value: Any, index: int, items: list[Any]) -> int | None:
    """Lists of named mappings (containers, env, ports) match by name, others by index."""
    if isinstance(value, YMap) and "name" in value:
        for j, item in enumerate(items):
            if isinstance(item, YMap) and item.get("name") == value["name"]:
                return j
        return None
    return index if index < len(items) else None


def place(
    built: Sequence[K8sObject], sources: Sequence[K8sObject], kustomization: str, line: int
) -> None:
    """Graft every object of one binary build (``kustomization`` is its file's path)."""
    changed = Pos(kustomization, line)
    for obj in built:
        src = source_of(obj, sources, kustomization)
        graft(obj.body, src.body if src is not None else None, changed)
