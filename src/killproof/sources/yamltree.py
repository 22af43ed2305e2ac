"""YAML (and JSON) documents as plain dicts and lists that remember their lines.

ruamel.yaml composes the node graph (keeping every node's start mark); this module builds
:class:`YMap`/:class:`YList` from it. Each mapping knows its own position and the position
of each key, so a rule can point at the exact line to change, and a kustomize patch that
replaces a value carries the patch file's line with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag


@dataclass(frozen=True, order=True)
class Pos:
    """A place in a file: ``path`` relative to the checked root, 1-based ``line``."""

    path: str
    line: int


class YMap(dict[str, Any]):
    """A YAML mapping with the position of the mapping (``at``) and of each key."""

    __slots__ = ("at", "key_at")

    def __init__(self, at: Pos) -> None:
        super().__init__()
        self.at = at
        self.key_at: dict[str, Pos] = {}

    def pos(self, key: str) -> Pos:
        """Where ``key`` is written, or where the mapping starts when it is absent."""
        return self.key_at.get(key, self.at)

    def put(self, key: str, value: Any, at: Pos) -> None:
        """Set ``key`` and remember where it was written."""
        self[key] = value
        self.key_at[key] = at


class YList(list[Any]):
    """A YAML sequence with the position of the sequence and of each item."""

    __slots__ = ("at", "item_at")

    def __init__(self, at: Pos) -> None:
        super().__init__()
        self.at = at
        self.item_at: list[Pos] = []

    def add(self, value: Any, at: Pos) -> None:
        """Append ``value`` written at ``at``."""
        self.append(value)
        self.item_at.append(at)


class YamlError(ValueError):
    """YAML that cannot be parsed; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN = "tag:killproof:plain"
# YAML 1.2 core schema (what ruamel.yaml resolves by default), applied to plain scalars.
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9][0-9_]*$|^0o[0-7_]+$|^0x[0-9a-fA-F_]+$")
_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)


class _PlainResolver(VersionedResolver):
    """Tags every plain scalar as ``plain``; :func:`_scalar` resolves the value itself.

    ruamel's resolver walks a regex table in Python for every scalar, which was most of
    the load time; the core-schema rules below give the same values in one dict lookup
    or one regex.
    """

    plain_tag = Tag(suffix=_PLAIN)
    merge_tag = Tag(suffix=_MERGE_TAG)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            if implicit[0]:
                return self.merge_tag if value == "<<" else self.plain_tag
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)


def _plain(value: str) -> Any:
    if value in _NULL:
        return None
    if value in _BOOL:
        return _BOOL[value]
    if value[0].isalpha():  # most scalars are words: no number starts with a letter
        return value
    if _INT.match(value):
        return _scalar_int(value)
    if _FLOAT.match(value):
        try:
            return float(value.replace("_", "").replace(".inf", "inf").replace(".Inf", "inf")
                         .replace(".INF", "inf").replace(".nan", "nan").replace(".NaN", "nan")
                         .replace(".NAN", "nan"))  # fmt: skip
        except ValueError:
            return value
    return value


def _scalar_int(value: str) -> Any:
    text = value.replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    for base in (0, 10):
        try:
            return int(text, base)
        except ValueError:
            continue
    return value


def _scalar(node: ScalarNode) -> Any:
    value: str = node.value
    if node.ctag is _PlainResolver.plain_tag:  # the common case, without building a str
        return _plain(value)
    tag = str(node.tag)
    if tag == _PLAIN:
        return _plain(value)
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return value.lower() in ("true", "yes", "on")
    if tag.endswith(":int"):
        text = value.replace("_", "")
        for base in (0, 10):
            try:
                return int(text, base)
            except ValueError:
                continue
        return value
    if tag.endswith(":float"):
        try:
            return float(value.replace("_", "").replace(".inf", "inf").replace(".nan", "nan"))
        except ValueError:
            return value
    return value


class _Builder:
    """Turns composed nodes into YMap/YList, sharing aliased nodes (no alias bombs)."""

    def __init__(self, path: str, keep_lines: bool = True) -> None:
        self.path = path
        self.keep_lines = keep_lines
        self.done: dict[int, Any] = {}
        self.lines: dict[int, Pos] = {}  # one Pos per line: most lines hold several nodes

    def at(self, node: Node) -> Pos:
        line = node.start_mark.line + 1 if self.keep_lines else 0
        pos = self.lines.get(line)
        if pos is None:
            pos = self.lines[line] = Pos(self.path, line)
        return pos

    def build(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):  # most nodes; rebuilding an aliased scalar is free
            return _scalar(node)
        key = id(node)
        if key in self.done:
            return self.done[key]
        if isinstance(node, SequenceNode):
            seq = YList(self.at(node))
            self.done[key] = seq
            for item in node.value:
                seq.add(self.build(item), self.at(item))
            return seq
        if isinstance(node, MappingNode):
            mapping = YMap(self.at(node))
            self.done[key] = mapping
            merges: list[Any] = []
            for knode, vnode in node.value:
                if knode.ctag is _PlainResolver.merge_tag or str(knode.tag) == _MERGE_TAG:
                    merges.append(self.build(vnode))
                    continue
                name = self.build(knode)
                mapping.put(
                    str(name) if not isinstance(name, str) else name,
                    self.build(vnode),
                    self.at(knode),
                )
            for merged in merges:  # explicit keys win over '<<' merges
                for source in merged if isinstance(merged, list) else [merged]:
                    if isinstance(source, YMap):
                        for k, v in source.items():
                            if k not in mapping:
                                mapping.put(k, v, source.pos(k))
            return mapping
        raise YamlError(f"unsupported YAML node {type(node).__name__}", node.start_mark.line + 1)


@cache
def _composer(pure: bool) -> YAML:
    # Only nodes and their start marks are used (comments are read from the text by the
    # suppression scanner), so the safe composer does: with ruamel.yaml.clib it runs in C,
    # ~10x faster than the round-trip one, with the same line numbers. Built once: its
    # construction scans for plug-ins on disk.
    yaml = YAML(typ="safe", pure=pure)
    yaml.Resolver = _PlainResolver
    return yaml


def _compose(text: str, path: str, pure: bool, keep_lines: bool) -> list[Any]:
    builder = _Builder(path, keep_lines)
    docs: list[Any] = []
    for node in _composer(pure).compose_all(text):
        if node is None:
            continue
        builder.done = {}  # ids are only stable while this document's nodes live
        doc = builder.build(node)
        if doc is not None:
            docs.append(doc)
    return docs


def load_documents(text: str, path: str, keep_lines: bool = True) -> list[Any]:
    """Every document of a YAML/JSON stream (empty documents dropped), positions kept.

    ``keep_lines=False`` gives every position line 0 (unknown): for generated text whose
    lines are not in any file. Raises :class:`YamlError` with the line of the problem;
    never another exception.
    """
    try:
        try:
            return _compose(text, path, pure=False, keep_lines=keep_lines)
        except YamlError:
            raise
        except Exception:
            # libyaml (the C parser) is YAML 1.1 and refuses some YAML 1.2 that Kubernetes
            # accepts (``[-addr=:9000]``): the pure-Python parser has the last word.
            return _compose(text, path, pure=True, keep_lines=keep_lines)
    except YamlError:
        raise
    except RecursionError as exc:
        raise YamlError("nesting too deep") from exc
    except Exception as exc:  # ruamel raises many types; none may escape as a crash
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [""])[0]
        raise YamlError(f"invalid YAML: {problem or type(exc).__name__}", line) from exc


def clone(value: Any) -> Any:
    """A deep copy that keeps positions (kustomize overlays patch their own copy)."""
    if isinstance(value, YMap):
        out = YMap(value.at)
        for k, v in value.items():
            out.put(k, clone(v), value.pos(k))
        return out
    if isinstance(value, YList):
        seq = YList(value.at)
        for item, at in zip(value, value.item_at, strict=False):
            seq.add(clone(item), at)
        return seq
    return value


def dig(mapping: Any, *keys: str) -> Any:
    """``mapping[k1][k2]…`` or None when any step is missing or not a mapping."""
    node = mapping
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def dig_pos(mapping: YMap, *keys: str) -> Pos:
    """The position of the deepest key of ``keys`` that exists (the line to change)."""
    node: Any = mapping
    pos = mapping.at
    for key in keys:
        if not isinstance(node, YMap) or key not in node:
            break
        pos = node.pos(key)
        node = node[key]
    return pos


def iter_maps(value: Any) -> Iterator[YMap]:
    """The items of a YList that are mappings (skipping malformed entries)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, YMap):
                yield item
