"""JSON and YAML documents loaded with the 1-based line of every mapping key and list item.

YAML goes through ruamel.yaml's round-trip loader (``lc.line``/``lc.key``/``lc.item``).
JSON is decoded by :mod:`json`'s C decoder (whose errors carry a line); the elements that
become evidence are read once more by a small reader that records where each key starts
(see :class:`Positions`). Concatenated JSON values (``kubectl get events -w -o json``) are
read one after another.
"""

from __future__ import annotations

import gc
import json
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ruamel.yaml import YAML

from killproof.errors import InputError
from killproof.model import Evidence

# The C string scanner json itself uses (not in typeshed, but public since Python 2.6).
scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
# Keys whose values are never quoted as evidence (object identity and specs, not states):
# decoded whole by the C decoder when an element is re-read with positions.
_UNCITED = frozenset(
    {
        "metadata",
        "spec",
        "Config",
        "HostConfig",
        "NetworkSettings",
        "GraphDriver",
        "Mounts",
        "managedFields",
        "annotations",
        "labels",
        "source",
        "Args",
        "Path",
        "Created",
    }
)
MAX_QUOTE_CHARS = 400
"""A quoted line longer than this (minified JSON is one line) is cut around the key."""
_INT_DIGITS = 4000
"""Longest integer decoded as an int (Python refuses to convert more than 4300 digits)."""


def _bounded_int(text: str) -> int | float:
    """A JSON integer; a longer one than Python converts becomes a float (no valid pod has
    one, and refusing the whole document for it would lose its kills)."""
    return int(text) if len(text) <= _INT_DIGITS else float(text)


def decoder() -> json.JSONDecoder:
    """A JSON decoder that takes integers of any length (see :func:`_bounded_int`)."""
    return json.JSONDecoder(parse_int=_bounded_int)


_LITERALS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


class Positions:
    """Where the keys and items of a loaded document sit in its text (1-based lines).

    YAML nodes carry their own marks (``lc``). JSON is first read *shallowly* (each element
    of a top-level array or ``items`` list decoded by :mod:`json`'s C decoder, its text span
    remembered); :meth:`locate` re-reads one element with every key's offset recorded,
    so the cost of positions is paid only for the elements that become evidence.
    """

    def __init__(self, text: str, first_line: int = 1) -> None:
        self.text = text
        self._json: dict[int, tuple[int, dict[object, int]]] = {}  # id → (offset, key offsets)
        self._spans: dict[int, int] = {}  # id of a shallow-read element → its start offset
        self._located: dict[int, Any] = {}
        # (offset, line) pairs already counted; the text may be a piece of a larger input
        self._marks: list[tuple[int, int]] = [(0, first_line)]
        self._lines: list[str] | None = None

    @classmethod
    def of_element(cls, text: str, value: Any, first_line: int) -> Positions:
        """Positions for ``value``, decoded from ``text`` (one element of a larger JSON input
        whose line ``first_line`` the text starts on); :meth:`locate` re-reads it."""
        positions = cls(text, first_line)
        if isinstance(value, dict | list):
            positions._spans[id(value)] = 0
        return positions

    def locate(self, node: Any) -> Any:
        """``node`` re-read with positions when it was read shallowly, else ``node`` itself."""
        start = self._spans.get(id(node))
        if start is None:
            return node
        if id(node) not in self._located:
            try:
                self._located[id(node)] = _JSONReader(self.text, self).value(start)[0]
            except RecursionError:
                # nested deeper than the reader's stack: quoted without lines, never lost
                self._located[id(node)] = node
        return self._located[id(node)]

    def _line_at(self, offset: int) -> int:
        """1-based line of a text offset, counting newlines from the nearest known mark."""
        i = bisect_left(self._marks, (offset, 0))
        if i < len(self._marks) and self._marks[i][0] == offset:
            return self._marks[i][1]
        base_off, base_line = self._marks[i - 1]
        line = base_line + self.text.count("\n", base_off, offset)
        self._marks.insert(i, (offset, line))
        return line

    def _text_of(self, line: int, offset: int | None) -> str:
        if offset is not None:
            begin = self.text.rfind("\n", 0, offset) + 1
            end = self.text.find("\n", offset)
            end = end if end >= 0 else len(self.text)
            if end - begin <= MAX_QUOTE_CHARS:
                return self.text[begin:end].strip()
            # one long line (minified JSON): the part of it around the key
            lo = max(begin, offset - MAX_QUOTE_CHARS // 4)
            hi = min(end, lo + MAX_QUOTE_CHARS)
            cut = self.text[lo:hi].strip()
            return ("…" if lo > begin else "") + cut + ("…" if hi < end else "")
        if self._lines is None:
            self._lines = self.text.splitlines()
        text = self._lines[line - 1].strip() if 0 < line <= len(self._lines) else ""
        return text if len(text) <= MAX_QUOTE_CHARS else text[:MAX_QUOTE_CHARS] + "…"

    def _where(self, node: object, key: object) -> tuple[int, int | None]:
        """(line, offset or None) of ``node[key]`` or ``node``; line 0 when unknown."""
        if id(node) in self._json:
            start, keys = self._json[id(node)]
            offset = keys.get(key, start) if key is not None else start
            return self._line_at(offset), offset
        lc = getattr(node, "lc", None)
        if lc is None:
            return 0, None
        try:
            if key is None:
                return int(lc.line) + 1, None
            where = lc.key(key) if isinstance(node, dict) else lc.item(key)
            return int(where[0]) + 1, None
        except (KeyError, IndexError, TypeError, AttributeError):
            return int(lc.line) + 1, None

    def line_of(self, node: object, key: object = None) -> int:
        """1-based line of ``node[key]`` (or of ``node`` itself when key is None); 0 unknown."""
        return self._where(node, key)[0]

    def quote(self, path: str, node: object, key: object = None) -> Evidence:
        """The source line of ``node[key]`` as evidence (line 0 when unknown)."""
        line, offset = self._where(node, key)
        text = self._text_of(line, offset) if line else ""
        return Evidence(text or f"{key}", path, line)


class _JSONReader:
    """Reads JSON that is known to be well-formed, recording where keys and items start."""

    def __init__(self, text: str, positions: Positions) -> None:
        self.text = text
        self.positions = positions
        self.decoder = decoder()
        self.ws = _WS.match

    def skip(self, i: int) -> int:
        m = self.ws(self.text, i)
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
        number: Any = float(m.group()) if m.group(2) or m.group(3) else _bounded_int(m.group())
        return number, m.end()

    def _object(self, start: int) -> tuple[dict[str, Any], int]:
        obj: dict[str, Any] = {}
        keys: dict[object, int] = {}
        self.positions._json[id(obj)] = (start, keys)
        i = self.skip(start + 1)
        if self.text[i] == "}":
            return obj, i + 1
        while True:
            i = self.skip(i)
            key_at = i
            key, i = scanstring(self.text, i + 1)
            i = self.skip(i) + 1  # the colon
            if key in _UNCITED:
                obj[key], i = self.decoder.raw_decode(self.text, self.skip(i))
            else:
                obj[key], i = self.value(i)
            keys[key] = key_at
            i = self.skip(i)
            if self.text[i] == "}":
                return obj, i + 1
            i += 1  # the comma

    def _array(self, start: int) -> tuple[list[Any], int]:
        arr: list[Any] = []
        items: dict[object, int] = {}
        self.positions._json[id(arr)] = (start, items)
        i = self.skip(start + 1)
        if self.text[i] == "]":
            return arr, i + 1
        while True:
            i = self.skip(i)
            items[len(arr)] = i
            item, i = self.value(i)
            arr.append(item)
            i = self.skip(i)
            if self.text[i] == "]":
                return arr, i + 1
            i += 1


class _ShallowReader:
    """Reads a top-level JSON value, decoding big arrays' elements with the C decoder.

    The elements of a top-level array and of a top-level object's ``items`` array are
    decoded whole (their start is remembered for :meth:`Positions.locate`); every other
    value of the top-level object is decoded whole as well. Raises ``JSONDecodeError`` or
    ``IndexError``/``ValueError`` on malformed text (the caller reports it).
    """

    def __init__(self, text: str, positions: Positions) -> None:
        self.text = text
        self.positions = positions
        self.decoder = decoder()

    def skip(self, i: int) -> int:
        m = _WS.match(self.text, i)
        return m.end() if m else i

    def _expect(self, i: int, chars: str) -> str:
        if i >= len(self.text) or self.text[i] not in chars:
            raise json.JSONDecodeError(f"Expecting one of {chars!r}", self.text, i)
        return self.text[i]

    def _elements(self, start: int) -> tuple[list[Any], int]:
        arr: list[Any] = []
        i = self.skip(start + 1)
        if self._expect(i, ']"{[-0123456789tfnNI') == "]":
            return arr, i + 1
        while True:
            i = self.skip(i)
            item, end = self.decoder.raw_decode(self.text, i)
            if isinstance(item, dict | list):
                self.positions._spans[id(item)] = i
            arr.append(item)
            i = self.skip(end)
            if self._expect(i, ",]") == "]":
                return arr, i + 1
            i += 1

    def value(self, i: int) -> tuple[Any, int]:
        i = self.skip(i)
        if self._expect(i, '{["-0123456789tfnNI') == "[":
            arr, end = self._elements(i)
            return arr, end
        if self.text[i] != "{":
            value, end = self.decoder.raw_decode(self.text, i)
            return value, end
        obj: dict[str, Any] = {}
        self.positions._spans[id(obj)] = i
        i = self.skip(i + 1)
        if self._expect(i, '}"') == "}":
            return obj, i + 1
        while True:
            i = self.skip(i)
            self._expect(i, '"')
            key, i = scanstring(self.text, i + 1)
            i = self.skip(i)
            self._expect(i, ":")
            i = self.skip(i + 1)
            if key == "items" and self.text.startswith("[", i):
                obj[key], i = self._elements(i)
            else:
                obj[key], i = self.decoder.raw_decode(self.text, i)
            i = self.skip(i)
            if self._expect(i, ",}") == "}":
                return obj, i + 1
            i += 1


def _validate(text: str, path: str) -> None:
    """Raise the InputError :mod:`json` finds in ``text`` (one or more concatenated values)."""
    json_decoder = decoder()
    i = _WS.match(text, 0).end()  # type: ignore[union-attr]
    try:
        while i < len(text):
            _, i = json_decoder.raw_decode(text, i)
            i = _WS.match(text, i).end()  # type: ignore[union-attr]
    except json.JSONDecodeError as exc:
        what = "truncated JSON" if exc.pos >= len(text.rstrip()) else "malformed JSON"
        raise InputError(f"{what} at line {exc.lineno}: {exc.msg}", path, exc.lineno) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path, 1) from None


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large acyclic tree.

    Decoding a 70 MB pod list allocates millions of containers; each allocation burst
    triggers full collections that rescan everything already built (measured: 2.5 s of
    a 3.8 s decode). JSON trees and KillEvents hold no cycles, so nothing is lost; the
    previous state is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_json(text: str, path: str) -> tuple[list[Any], Positions]:
    """Every JSON value in ``text`` (one or several concatenated), read shallowly.

    Use :meth:`Positions.locate` on an element before quoting it. Raises
    :class:`InputError` naming the line for malformed or truncated JSON.
    """
    positions = Positions(text)
    reader = _ShallowReader(text, positions)
    values: list[Any] = []
    try:
        with paused_gc():
            i = reader.skip(0)
            while i < len(text):
                value, i = reader.value(i)
                values.append(value)
                i = reader.skip(i)
    except (json.JSONDecodeError, IndexError, ValueError, RecursionError):
        _validate(text, path)  # names the line of the damage
        raise InputError("malformed JSON", path, 1) from None
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
    return docs, Positions(text)
