"""YAML (and JSON) documents as plain dicts and lists that remember their lines.

libyaml (through PyYAML's C binding) parses; this module builds :class:`YMap`/:class:`YList`
from its events, keeping each event's line. ruamel.yaml's pure-Python YAML 1.2 parser takes
over, through the same builder, for the few documents libyaml (YAML 1.1) refuses. Each
mapping knows its own position and the position of each key, so a rule can point at the
exact line to change, and a kustomize patch that replaces a value carries the patch file's
line with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml.events
from yaml._yaml import CParser


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

    def __repr__(self) -> str:
        # Never the contents: aliases make them exponential (a 1 KB alias bomb), and a
        # value used where text belongs (``str(v)``) must cost nothing.
        return f"<mapping at {self.at.path}:{self.at.line}>"

    __str__ = __repr__

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

    def __repr__(self) -> str:
        return f"<sequence at {self.at.path}:{self.at.line}>"  # see YMap.__repr__

    __str__ = __repr__

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
# YAML 1.2 core schema (what ruamel.yaml resolves by default), applied to plain scalars.
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_WORDS = _NULL | _BOOL.keys()  # the plain scalars that start with a letter and are not text
_INT = re.compile(r"^[-+]?[0-9][0-9_]*$|^0o[0-7_]+$|^0x[0-9a-fA-F_]+$")
_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)


def _plain(value: str) -> Any:
    if value in _NULL:
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        return _int(value)
    if _FLOAT.match(value):
        return _float(value)
    return value


def _int(value: str) -> Any:
    text = value.replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    for base in (0, 10):
        try:
            return int(text, base)
        except ValueError:
            continue
    return value


def _float(value: str) -> Any:
    text = value.replace("_", "").lower().replace(".inf", "inf").replace(".nan", "nan")
    try:
        return float(text)
    except ValueError:
        return value


def _tagged(value: str, tag: str) -> Any:
    """A scalar with an explicit tag: the core types are converted, anything else is text."""
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return value.lower() in ("true", "yes", "on")
    if tag.endswith(":int"):
        return _int(value)
    if tag.endswith(":float"):
        return _float(value)
    return value


# What each parser's event classes mean to the builder.
_SCALAR, _ALIAS, _MAP, _SEQ, _END, _DOC, _STREAM_END, _OTHER = range(8)
_MERGE = object()  # a '<<' key: the mapping(s) it names fill the keys not written


def _kinds(e: Any) -> dict[type, int]:
    """Builder kinds of the event classes of a parser's ``events`` module."""
    return {
        e.ScalarEvent: _SCALAR, e.AliasEvent: _ALIAS, e.MappingStartEvent: _MAP,
        e.SequenceStartEvent: _SEQ, e.MappingEndEvent: _END, e.SequenceEndEvent: _END,
        e.DocumentStartEvent: _DOC, e.StreamEndEvent: _STREAM_END,
    }  # fmt: skip


_LIBYAML_KINDS = _kinds(yaml.events)


MAX_DEPTH = 200
"""Deepest nesting of collections accepted in a document. Kubernetes objects, compose
files and CRD schemas stay well under 100; deeper input would only exhaust the recursion
of whatever walks the tree later."""
MAX_EXPANSION = 200_000
"""Nodes a document may hold once its aliases are expanded, beyond the nodes written in it.
Aliases are shared, never copied, here; but a reader that walks or copies the tree (a
kustomize overlay copies its base) pays for the expansion, and a 1 KB alias bomb expands
to billions of nodes. A document over the bound is refused with a :class:`YamlError`."""


def _build(
    next_event: Callable[[], Any], kinds: dict[type, int], path: str, keep_lines: bool
) -> list[Any]:
    """YMap/YList documents from a parser's event stream.

    Iterative (no recursion limit), one :class:`Pos` per line (most lines hold several
    nodes), aliases share the anchored object (no alias bombs): a document nested deeper
    than :data:`MAX_DEPTH`, whose expansion passes :data:`MAX_EXPANSION`, or with an alias
    to a collection that contains it (a cycle) is refused.
    """
    docs: list[Any] = []
    anchors: dict[str, Any] = {}
    lines: dict[int, Pos] = {}
    # The open collection, its pending key and where that key is written, and merges.
    stack: list[tuple[Any, Any, Pos | None, list[Any] | None]] = []
    cur: Any = None
    key: Any = None
    key_at: Pos | None = None
    merges: list[Any] | None = None
    # Expanded node counts: of each open collection (parallel to ``stack``), of each
    # anchored collection once closed, and of the document so far; ids of open anchors.
    sizes: list[int] = []
    anchored_size: dict[int, int] = {}
    opened: set[int] = set()
    written = expanded = 0
    while True:
        event = next_event()
        kind = kinds.get(type(event), _OTHER)
        if kind == _SCALAR:
            written += 1
            expanded += 1
            line = event.start_mark.line + 1 if keep_lines else 0
            value = event.value
            tag = event.tag
            if tag is None:
                if not event.implicit[0]:
                    node = value  # quoted
                elif value[:1].isalpha() and value not in _WORDS:
                    node = value  # most plain scalars are words: no number starts with a letter
                elif value == "<<" and key_at is None and type(cur) is YMap:
                    node = _MERGE
                else:
                    node = _plain(value)
            elif tag == _MERGE_TAG and key_at is None and type(cur) is YMap:
                node = _MERGE
            else:
                node = _tagged(value, tag)
            if event.anchor is not None:
                anchors[event.anchor] = "<<" if node is _MERGE else node
            if sizes:
                sizes[-1] += 1
        elif kind in (_MAP, _SEQ):
            line = event.start_mark.line + 1 if keep_lines else 0
            if len(stack) >= MAX_DEPTH:
                raise YamlError(f"nested deeper than {MAX_DEPTH} levels: not read", line)
            at = lines.get(line) or lines.setdefault(line, Pos(path, line))
            stack.append((cur, key, key_at, merges))
            sizes.append(1)
            written += 1
            expanded += 1
            cur = YMap(at) if kind == _MAP else YList(at)
            key, key_at, merges = None, None, None
            if event.anchor is not None:
                anchors[event.anchor] = cur
                opened.add(id(cur))
            continue
        elif kind == _END:
            node = cur
            if merges:
                _merge(node, merges)
            size = sizes.pop()
            if id(node) in opened:
                opened.discard(id(node))
                anchored_size[id(node)] = size
            if sizes:
                sizes[-1] += size
            cur, key, key_at, merges = stack.pop()
            line = node.at.line
        elif kind == _ALIAS:
            line = event.start_mark.line + 1 if keep_lines else 0
            if event.anchor not in anchors:
                raise YamlError(f"invalid YAML: found undefined alias {event.anchor!r}", line)
            node = anchors[event.anchor]
            if id(node) in opened:
                raise YamlError(f"alias *{event.anchor} refers to a node that contains it", line)
            size = anchored_size.get(id(node), 1)
            expanded += size
            if expanded - written > MAX_EXPANSION:
                raise YamlError(
                    f"aliases expand the document past {MAX_EXPANSION} more nodes "
                    "(a YAML bomb?): not read",
                    line,
                )
            if sizes:
                sizes[-1] += size
        elif kind == _DOC:
            anchors = {}
            anchored_size = {}
            opened = set()
            written = expanded = 0
            continue
        elif kind == _STREAM_END:
            return docs
        else:
            continue
        if cur is None:  # a document's root
            if node is not None:
                docs.append(node)
        elif type(cur) is YMap:
            if key_at is None:
                key = node
                key_at = lines.get(line) or lines.setdefault(line, Pos(path, line))
                continue
            if key is _MERGE:
                merges = [*(merges or ()), node]
            else:
                name = key if type(key) is str else str(key)  # a collection: its position
                cur[name] = node  # YMap.put, inlined: this loop runs for every node
                cur.key_at[name] = key_at
            key, key_at = None, None
        else:
            cur.append(node)  # YList.add, inlined
            cur.item_at.append(lines.get(line) or lines.setdefault(line, Pos(path, line)))


def _merge(mapping: YMap, merges: list[Any]) -> None:
    """Apply '<<' merges: explicit keys win, then the first merged mapping that has a key."""
    for merged in merges:
        for source in merged if isinstance(merged, list) else [merged]:
            if isinstance(source, YMap):
                for k, v in source.items():
                    if k not in mapping:
                        mapping.put(k, v, source.pos(k))


def _ruamel_events(text: str) -> Callable[[], Any]:
    events: Iterator[Any] = _pure_parser().parse(text)
    return events.__next__


@cache
def _ruamel_kinds() -> dict[type, int]:
    import ruamel.yaml.events

    return _kinds(ruamel.yaml.events)


@cache
def _pure_parser() -> Any:
    # Built once: its construction scans for plug-ins on disk.
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True)


def load_documents(text: str, path: str, keep_lines: bool = True) -> list[Any]:
    """Every document of a YAML/JSON stream (empty documents dropped), positions kept.

    ``keep_lines=False`` gives every position line 0 (unknown): for generated text whose
    lines are not in any file. Raises :class:`YamlError` with the line of the problem;
    never another exception.
    """
    try:
        try:
            # PyYAML's binding of libyaml: C events, ~2x faster than composing ruamel nodes.
            return _build(CParser(text).get_event, _LIBYAML_KINDS, path, keep_lines)
        except YamlError:
            raise
        except Exception:
            # libyaml is YAML 1.1 and refuses some YAML 1.2 that Kubernetes accepts
            # (``[-addr=:9000]``): ruamel.yaml's pure-Python 1.2 parser has the last word.
            return _build(_ruamel_events(text), _ruamel_kinds(), path, keep_lines)
    except YamlError:
        raise
    except Exception as exc:  # the parsers raise many types; none may escape as a crash
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
