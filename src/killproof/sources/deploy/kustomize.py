"""kustomization.yaml directories resolved natively, so findings keep real file lines.

Supported natively: ``resources``/``bases`` (files and directories), ``namespace``,
``namePrefix``/``nameSuffix``, ``commonLabels``, ``commonAnnotations``, ``images``,
``replicas``, ``patchesStrategicMerge``, ``patchesJson6902`` and ``patches`` (file, bare
file name or inline, strategic-merge or JSON 6902), ``configMapGenerator`` literals, and ``components`` (each
applied, in order, to the resources gathered so far). Anything else (helm charts, remote
bases, replacements) raises :class:`KustomizeUnsupported`; the caller then runs
``kustomize build`` / ``kubectl kustomize`` when one is installed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from killproof.sources.deploy.manifests import K8sObject, objects_from_docs
from killproof.sources.deploy.yamltree import (
    Pos,
    YamlError,
    YList,
    YMap,
    clone,
    dig,
    iter_maps,
    load_documents,
)

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_UNSUPPORTED = ("helmCharts", "helmChartInflationGenerator", "replacements",
                "transformers", "generators", "vars", "openapi", "crds")  # fmt: skip
# Strategic-merge keys of the lists that matter here (the others are replaced wholesale).
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
    "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name",
}  # fmt: skip

_SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}
# Kinds whose spec.selector.matchLabels kustomize creates for commonLabels (the others'
# selectors get labels only where one is written).
_SELECTOR_CREATED = {"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"}

ReadText = Callable[[str], str]
"""Reads a file by its root-relative path (raises OSError)."""


class KustomizeError(ValueError):
    """A kustomization that cannot be built: ``path``/``line`` say where."""

    def __init__(self, message: str, path: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line


class KustomizeUnsupported(KustomizeError):
    """A feature the native resolver does not implement (the binary may)."""


@dataclass
class KustomizeBuild:
    """The objects a kustomization produces and the files it read."""

    dir: str
    objects: list[K8sObject]
    consumed: set[str] = field(default_factory=set)
    subdirs: set[str] = field(default_factory=set)
    component: bool = False
    """A ``kind: Component`` built alone: nothing; the kustomizations listing it apply it."""


def find_kustomization(dir_path: str, exists: Callable[[str], bool]) -> str | None:
    """The kustomization file in ``dir_path`` (root-relative), if any."""
    for name in KUSTOMIZATION_NAMES:
        candidate = posixpath.join(dir_path, name) if dir_path not in ("", ".") else name
        if exists(candidate):
            return candidate
    return None


def build(
    dir_path: str, read: ReadText, exists: Callable[[str], bool], origin: str = ""
) -> KustomizeBuild:
    """Build the kustomization in ``dir_path`` natively (objects carry file positions)."""
    return _build(dir_path, read, exists, origin or dir_path, depth=0)


def _build(
    dir_path: str,
    read: ReadText,
    exists: Callable[[str], bool],
    origin: str,
    depth: int,
    into: KustomizeBuild | None = None,
) -> KustomizeBuild:
    """Build ``dir_path``; a component (``into`` given) adds to and transforms ``into``."""
    if depth > 20:
        raise KustomizeError("resources nest too deep (a cycle?)", dir_path)
    kpath = find_kustomization(dir_path, exists)
    if kpath is None:
        raise KustomizeError("no kustomization.yaml", dir_path)
    kust = _load_one(kpath, read)
    component = kust.get("kind") == "Component"
    if component and into is None:
        return KustomizeBuild(dir_path, [], {kpath}, component=True)
    if into is not None and not component:
        raise KustomizeError(
            "listed in 'components' but its kind is not Component", kpath, kust.pos("kind").line
        )
    for key in _UNSUPPORTED:
        if key in kust:
            raise KustomizeUnsupported(
                f"'{key}' is not resolved natively", kpath, kust.pos(key).line
            )
    result = into if into is not None else KustomizeBuild(dir_path, [])
    result.consumed.add(kpath)
    for entry, at in _entries(kust, "resources") + _entries(kust, "bases"):
        target = _local(entry, dir_path, kpath, at)
        if find_kustomization(target, exists) is not None:
            sub = _build(target, read, exists, origin, depth + 1)
            result.objects += sub.objects
            result.consumed |= sub.consumed
            result.subdirs |= {target, *sub.subdirs}
        elif exists(target):
            result.consumed.add(target)
            result.objects += objects_from_docs(_load_docs(target, read), origin)
        else:
            raise KustomizeError(f"resource {entry!r} not found", kpath, at.line)
    # Components come after the resources and before this kustomization's own generators,
    # patches and transformers, as in `kustomize build`.
    for entry, at in _entries(kust, "components"):
        target = _local(entry, dir_path, kpath, at)
        if find_kustomization(target, exists) is None:
            raise KustomizeError(f"component {entry!r} not found", kpath, at.line)
        _build(target, read, exists, origin, depth + 1, into=result)
        result.subdirs.add(target)
    for gen in iter_maps(kust.get("configMapGenerator")):
        result.objects.append(_config_map(gen, kust, origin))
    _apply_patches(result, kust, kpath, dir_path, read)
    _apply_transformers(result.objects, kust)
    return result


def _local(entry: str, dir_path: str, kpath: str, at: Pos) -> str:
    """A resource/component entry as a root-relative path; remote ones go to the binary."""
    if "://" in entry or entry.startswith(("github.com/", "git@")):
        raise KustomizeUnsupported(f"remote resource {entry!r}", kpath, at.line)
    return posixpath.normpath(posixpath.join(dir_path, entry))


def _load_one(path: str, read: ReadText) -> YMap:
    docs = _load_docs(path, read)
    if not docs or not isinstance(docs[0], YMap):
        raise KustomizeError("not a mapping", path, 1)
    doc: YMap = docs[0]
    return doc


def _load_docs(path: str, read: ReadText, pad: int = 0, text: str | None = None) -> list[Any]:
    try:
        source = read(path) if text is None else text
    except OSError as exc:
        raise KustomizeError(f"cannot read: {exc.strerror or exc}", path) from exc
    try:
        return load_documents("\n" * pad + source, path)
    except YamlError as exc:
        raise KustomizeError(exc.message, path, exc.line) from exc


def _entries(kust: YMap, key: str) -> list[tuple[str, Pos]]:
    value = kust.get(key)
    if not isinstance(value, YList):
        return []
    return [(str(v), at) for v, at in zip(value, value.item_at, strict=False) if isinstance(v, str)]


def _config_map(gen: YMap, kust: YMap, origin: str) -> K8sObject:
    body = YMap(gen.at)
    body.put("apiVersion", "v1", gen.at)
    body.put("kind", "ConfigMap", gen.at)
    meta = YMap(gen.at)
    meta.put("name", str(gen.get("name", "")), gen.pos("name"))
    body.put("metadata", meta, gen.at)
    data = YMap(gen.pos("literals"))
    literals = gen.get("literals")
    if isinstance(literals, YList):
        for item, at in zip(literals, literals.item_at, strict=False):
            name, _, value = str(item).partition("=")
            data.put(name, value, at)
    body.put("data", data, gen.at)
    del kust
    return objects_from_docs([body], origin)[0]


def _apply_patches(
    result: KustomizeBuild, kust: YMap, kpath: str, dir_path: str, read: ReadText
) -> None:
    patches: list[tuple[list[Any], dict[str, Any] | None, Pos]] = []
    # A bare file name under ``patches`` is the older spelling of ``- path: file``.
    for entry, at in _entries(kust, "patchesStrategicMerge") + _entries(kust, "patches"):
        path = posixpath.normpath(posixpath.join(dir_path, entry))
        result.consumed.add(path)
        patches.append((_load_patch(path, read, kpath, at), None, at))
    for item in [*iter_maps(kust.get("patchesJson6902")), *iter_maps(kust.get("patches"))]:
        target = item.get("target") if isinstance(item.get("target"), dict) else None
        if isinstance(item.get("path"), str):
            path = posixpath.normpath(posixpath.join(dir_path, item["path"]))
            result.consumed.add(path)
            docs = _load_patch(path, read, kpath, item.pos("path"))
        elif isinstance(item.get("patch"), str):
            # An inline block scalar starts on the line after its key: pad to keep lines.
            docs = _load_docs(kpath, read, pad=item.pos("patch").line, text=item["patch"])
        else:
            raise KustomizeError("patch without 'path' or 'patch'", kpath, item.at.line)
        patches.append((docs, target, item.at))
    for docs, target, at in patches:
        for doc in docs:
            if isinstance(doc, YList):
                if target is None:
                    raise KustomizeError("a JSON 6902 patch needs a 'target'", kpath, at.line)
                for obj in _targets(result.objects, target, kpath, at):
                    _json6902(obj.body, doc, kpath)
            elif isinstance(doc, YMap):
                sel = target or {"kind": doc.get("kind"), "name": dig(doc, "metadata", "name")}
                for obj in _targets(result.objects, sel, kpath, at):
                    _merge(obj.body, doc)


def _load_patch(path: str, read: ReadText, kpath: str, at: Pos) -> list[Any]:
    """A patch file's documents; one that cannot be read is an error at the kustomization
    line that lists it (as ``kustomize build`` fails on it)."""
    try:
        source = read(path)
    except OSError as exc:
        raise KustomizeError(
            f"patch {path!r} cannot be read: {exc.strerror or exc}", kpath, at.line
        ) from exc
    return _load_docs(path, read, text=source)


def patch_files(dir_path: str, read: ReadText, exists: Callable[[str], bool]) -> set[str]:
    """The files (root-relative) the kustomization in ``dir_path`` uses as patches, read
    from the kustomization alone: they are partial objects, never manifests of their own,
    even when the kustomization cannot be built. Empty when it cannot be read."""
    kpath = find_kustomization(dir_path, exists)
    if kpath is None:
        return set()
    try:
        kust = _load_one(kpath, read)
    except KustomizeError:
        return set()
    entries = [e for e, _ in _entries(kust, "patchesStrategicMerge") + _entries(kust, "patches")]
    for item in [*iter_maps(kust.get("patchesJson6902")), *iter_maps(kust.get("patches"))]:
        if isinstance(item.get("path"), str):
            entries.append(item["path"])
    return {posixpath.normpath(posixpath.join(dir_path, e)) for e in entries if "://" not in e}


def _targets(
    objects: list[K8sObject], target: dict[str, Any], kpath: str, at: Pos
) -> list[K8sObject]:
    found = [
        o for o in objects
        if (not target.get("kind") or o.kind == target["kind"])
        and (not target.get("name") or o.name == target["name"])
        and (not target.get("namespace") or o.namespace == target["namespace"])
    ]  # fmt: skip
    if not found:
        raise KustomizeError(f"patch target {dict(target)} matches no resource", kpath, at.line)
    return found


def _merge(base: YMap, patch: YMap) -> None:
    """Strategic merge of ``patch`` into ``base`` (in place), keeping the patch's lines."""
    for key, value in patch.items():
        if key == "$patch":
            continue
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            base.pop(key, None)
            continue
        current = base.get(key)
        if isinstance(current, YMap) and isinstance(value, YMap):
            _merge(current, value)
        elif isinstance(current, YList) and isinstance(value, YList) and key in _MERGE_KEYS:
            _merge_list(current, value, _MERGE_KEYS[key])
        else:
            base.put(key, clone(value), patch.pos(key))


def _merge_list(base: YList, patch: YList, merge_key: str) -> None:
    for item, at in zip(patch, patch.item_at, strict=False):
        if not isinstance(item, YMap):
            continue
        match = next(
            (b for b in base if isinstance(b, YMap) and b.get(merge_key) == item.get(merge_key)),
            None,
        )
        if match is None:
            base.add(clone(item), at)
        elif item.get("$patch") == "delete":
            index = base.index(match)
            del base[index]
            del base.item_at[index]
        else:
            _merge(match, item)


def _json6902(body: YMap, ops: YList, kpath: str) -> None:
    for op in iter_maps(ops):
        path = str(op.get("path", ""))
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        if not parts:
            raise KustomizeError(f"bad JSON pointer {path!r}", kpath, op.at.line)
        parent: Any = body
        for part in parts[:-1]:
            parent = _step(parent, part, kpath, op)
        last, kind = parts[-1], op.get("op")
        value = clone(op.get("value"))
        at = op.pos("value") if "value" in op else op.at
        if kind in ("add", "replace") and isinstance(parent, YMap):
            parent.put(last, value, at)
        elif kind in ("add", "replace") and isinstance(parent, YList):
            if last == "-":
                parent.add(value, at)
            elif kind == "add":
                index = _index(parent, last, kpath, op, allow_end=True)
                parent.insert(index, value)
                parent.item_at.insert(index, at)
            else:
                index = _index(parent, last, kpath, op)
                parent[index] = value
                parent.item_at[index] = at
        elif kind == "remove" and isinstance(parent, YMap):
            parent.pop(last, None)
        elif kind == "remove" and isinstance(parent, YList):
            index = _index(parent, last, kpath, op)
            del parent[index]
            del parent.item_at[index]
        elif kind not in ("test", "copy", "move"):
            raise KustomizeError(f"cannot apply op {kind!r} at {path!r}", kpath, op.at.line)


def _step(node: Any, part: str, kpath: str, op: YMap) -> Any:
    if isinstance(node, YMap) and part in node:
        return node[part]
    if isinstance(node, YList):
        return node[_index(node, part, kpath, op)]
    raise KustomizeError(f"path {op.get('path')!r} does not exist in the target", kpath, op.at.line)


def _index(seq: YList, part: str, kpath: str, op: YMap, allow_end: bool = False) -> int:
    if not part.isdigit() or int(part) > len(seq) - (0 if allow_end else 1):
        raise KustomizeError(f"bad list index {part!r} in {op.get('path')!r}", kpath, op.at.line)
    return int(part)


def _apply_transformers(objects: list[K8sObject], kust: YMap) -> None:
    prefix, suffix = str(kust.get("namePrefix") or ""), str(kust.get("nameSuffix") or "")
    labels = kust.get("commonLabels") if isinstance(kust.get("commonLabels"), YMap) else None
    annotations = kust.get("commonAnnotations")
    annotations = annotations if isinstance(annotations, YMap) else None
    namespace = kust.get("namespace") if isinstance(kust.get("namespace"), str) else None
    for index, obj in enumerate(objects):
        body = obj.body
        meta = body.get("metadata")
        if not isinstance(meta, YMap):
            continue
        name = obj.name
        if prefix or suffix:
            name = prefix + obj.name + suffix
            meta.put("name", name, meta.pos("name"))
            ref = dig(body, "spec", "scaleTargetRef")
            if isinstance(ref, YMap) and isinstance(ref.get("name"), str):
                ref.put("name", prefix + ref["name"] + suffix, ref.pos("name"))
        if namespace:
            meta.put("namespace", namespace, meta.pos("namespace"))
        if labels:
            _label(obj, labels, selectors=True, templates=True)
        if annotations:
            _annotate(obj, annotations)
        for entry in iter_maps(kust.get("labels")):
            pairs = entry.get("pairs")
            if isinstance(pairs, YMap):
                selectors = entry.get("includeSelectors") is True
                templates = selectors or entry.get("includeTemplates") is True
                _label(obj, pairs, selectors=selectors, templates=templates)
        objects[index] = K8sObject(obj.kind, name, namespace or obj.namespace, body, obj.origin)
    _apply_images(objects, kust)
    for item in iter_maps(kust.get("replicas")):
        for obj in objects:
            if obj.kind not in _SCALABLE:
                continue
            if obj.name in (item.get("name"), prefix + str(item.get("name")) + suffix):
                spec = obj.body.get("spec")
                if isinstance(spec, YMap) and isinstance(item.get("count"), int):
                    spec.put("replicas", item["count"], item.pos("count"))


def _label(obj: K8sObject, labels: YMap, selectors: bool, templates: bool) -> None:
    body = obj.body
    _put_all(body, ("metadata", "labels"), labels)
    if templates:
        for path in _template_paths(body):
            _put_all(body, (*path, "metadata", "labels"), labels)
    if not selectors:
        return
    if obj.kind == "Service":
        _put_all(body, ("spec", "selector"), labels)
    elif obj.kind in _SELECTOR_CREATED or isinstance(dig(body, "spec", "selector"), YMap):
        _put_all(body, ("spec", "selector", "matchLabels"), labels)


def _annotate(obj: K8sObject, annotations: YMap) -> None:
    _put_all(obj.body, ("metadata", "annotations"), annotations)
    for path in _template_paths(obj.body):
        _put_all(obj.body, (*path, "metadata", "annotations"), annotations)


def _template_paths(body: YMap) -> list[tuple[str, ...]]:
    """The templates kustomize labels and annotates: the pod template, or a CronJob's job
    template and its pod template."""
    candidates = [("spec", "template"), ("spec", "jobTemplate"),
                  ("spec", "jobTemplate", "spec", "template")]  # fmt: skip
    return [path for path in candidates if isinstance(dig(body, *path), YMap)]


def _put_all(holder: YMap, path: tuple[str, ...], values: YMap) -> None:
    """Set every key of ``values`` in the mapping at ``path``, creating missing mappings
    (positioned where their parent is); each value keeps the line that wrote it."""
    node = holder
    for key in path:
        child = node.get(key)
        if not isinstance(child, YMap):
            child = YMap(node.at)
            node.put(key, child, node.at)
        node = child
    for k, v in values.items():
        node.put(k, v, values.pos(k))


def _apply_images(objects: list[K8sObject], kust: YMap) -> None:
    images = list(iter_maps(kust.get("images")))
    if not images:
        return
    from killproof.sources.deploy.manifests import ManifestSet

    for container in ManifestSet.of(objects).containers():
        image = str(container.spec.get("image", ""))
        name = (
            image.split("@", maxsplit=1)[0].rsplit(":", 1)[0]
            if ":" in image.rsplit("/", 1)[-1]
            else image.split("@", maxsplit=1)[0]
        )
        for item in images:
            if item.get("name") == name:
                new = str(item.get("newName", name))
                tag = (item.get("digest") and f"@{item['digest']}") or (
                    f":{item['newTag']}" if item.get("newTag") else ""
                )
                container.spec.put("image", new + tag, container.spec.pos("image"))
