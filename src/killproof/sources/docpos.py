"""JSON and YAML documents loaded with the 1-based line of every mapping key and list item.

YAML goes through ruamel.yaml's round-trip loader (``lc.line``/``lc.key``/``lc.item``).
JSON is validated by :mod:`json` (whose errors carry a line) and then read once more by a
small recursive reader that records where each key and item starts; concatenated JSON
values (``kubectl get events -w -o json``) are read one after another.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML

from killproof.errors import InputError
from killproof.model import Evidence

# The C string scanner json itself uses (not in typeshed, but public since Python 2.6).
scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
_LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


@dataclass
class Positions:
    """Where each container (dict/list) of a loaded document starts, and each key/item.

    Mutable only while loading; the loader hands it out and never changes it again.
    """

    lines: list[str]
    _json: dict[int, tuple[int, dict[object, int]]] = field(default_factory=dict)

    def line_of(self, node: object, key: object = None) -> int:
        """1-based line of ``node[key]`` (or of ``node`` itself when key is None); 0 unknown."""
        if id(node) in self._json:
            start, keys = self._json[id(node)]
            return keys.get(key, start) if key is not None else start
        lc = getattr(node, "lc", None)
        if lc is None:
            return 0
        try:
            if key is None:
                return int(lc.line) + 1
            where = lc.key(key) if isinstance(node, dict) else lc.item(key)
            return int(where[0]) + 1
        except (KeyError, IndexError, TypeError, AttributeError):
            return int(lc.line) + 1

    def quote(self, path: str, node: object, key: object = None) -> Evidence:
        """The source line of ``node[key]`` as evidence."""
        line = self.line_of(node, key)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else f"{key}"
        return Evidence(text, path, line)


class _JSONReader:
    """Reads text that :mod:`json` already accepted, recording positions."""

    def __init__(self, text: str, positions: Positions) -> None:
        self.text = text
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.positions = positions

    def line(self, pos: int) -> int:
        return bisect_left(self.newlines, pos) + 1

    def skip(self, i: int) -> int:
        m = _WS.match(self.text, i)
        return m.end() if m else i

    def value(self, i: int) -> tuple[Any, int]:
        i = self.skip(i)
        c = self.text[i]
        if c == "{":
            return self._object(i)
        if c == "[":
            return self._array(i)
        if c == '"':
            return scanstring(self.text, i + 1)
        for word, val in _LITERALS.items():
            if self.text.startswith(word, i):
                return val, i + len(word)
        m = _NUMBER.match(self.text, i)
        if not m:
            raise ValueError(f"unexpected {c!r}")
        number: Any = float(m.group()) if m.group(2) or m.group(3) else int(m.group())
        return number, m.end()

    def _object(self, start: int) -> tuple[dict[str, Any], int]:
        obj: dict[str, Any] = {}
        keys: dict[object, int] = {}
        self.positions._json[id(obj)] = (self.line(start), keys)
        i = self.skip(start + 1)
        if self.text[i] == "}":
            return obj, i + 1
        while True:
            i = self.skip(i)
            key_at = i
            key, i = scanstring(self.text, i + 1)
            i = self.skip(i) + 1  # the colon
            obj[key], i = self.value(i)
            keys[key] = self.line(key_at)
            i = self.skip(i)
            if self.text[i] == "}":
                return obj, i + 1
            i += 1  # the comma

    def _array(self, start: int) -> tuple[list[Any], int]:
        arr: list[Any] = []
        items: dict[object, int] = {}
        self.positions._json[id(arr)] = (self.line(start), items)
        i = self.skip(start + 1)
        if self.text[i] == "]":
            return arr, i + 1
        while True:
            i = self.skip(i)
            items[len(arr)] = self.line(i)
            item, i = self.value(i)
            arr.append(item)
            i = self.skip(i)
            if self.text[i] == "]":
                return arr, i + 1
            i += 1


def load_json(text: str, path: str) -> tuple[list[Any], Positions]:
    """Every JSON value in ``text`` (one or several concatenated), with positions.

    Raises :class:`InputError` naming the line for malformed or truncated JSON.
    """
    decoder = json.JSONDecoder()
    starts: list[int] = []
    i = _WS.match(text, 0).end()  # type: ignore[union-attr]
    try:
        while i < len(text):
            starts.append(i)
            _, i = decoder.raw_decode(text, i)
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
    except json.JSONDecodeError as exc:
        what = "truncated JSON" if exc.pos >= len(text.rstrip()) else "malformed JSON"
        raise InputError(f"{what} at line {exc.lineno}: {exc.msg}", path, exc.lineno) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path, 1) from None
    positions = Positions(text.splitlines())
    reader = _JSONReader(text, positions)
    try:
        values = [reader.value(s)[0] for s in starts]
    except RecursionError:
        raise InputError("JSON nested too deeply", path, 1) from None
    return values, positions


def load_yaml(text: str, path: str) -> tuple[list[Any], Positions]:
    """Every YAML document in ``text`` (round-trip loaded, lines kept).

    Raises :class:`InputError` naming the line for YAML the loader refuses.
    """
    yaml = YAML(typ="rt")
    try:
        docs = [d for d in yaml.load_all(text) if d is not None]
    except RecursionError:
        raise InputError("YAML nested too deeply", path, 1) from None
    except Exception as exc:  # ruamel raises many types; all mean "not loadable YAML"
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = int(mark.line) + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InputError(f"malformed YAML at line {line}: {problem}", path, line) from None
    return docs, Positions(text.splitlines())
