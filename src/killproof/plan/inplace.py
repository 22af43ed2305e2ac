"""``--in-place``: the plan applied to the manifest itself.

ruamel.yaml's round trip keeps comments, quotes and layout (in the file's own indentation);
the edit is refused when any line other than the values it sets would differ.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import itertools
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from killproof.errors import InputError
from killproof.plan.deployed import Deployed
from killproof.plan.model import Plan
from killproof.plan.patch import Changes, changes_of


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


def _last_line(node: Any) -> int:
    """The last line (0-based) a round-trip mapping or sequence spans."""
    last = int(node.lc.line)
    keys = node.keys() if isinstance(node, CommentedMap) else range(len(node))
    for key in keys:
        with contextlib.suppress(AttributeError, KeyError, TypeError):
            at = node.lc.value(key) if isinstance(node, CommentedMap) else node.lc.item(key)
            last = max(last, int(at[0]))
        child = node[key]
        if isinstance(child, CommentedMap | CommentedSeq):
            last = max(last, _last_line(child))
    return last


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
                    self.replaced.update(range(int(e.lc.line), _last_line(e) + 1))
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
