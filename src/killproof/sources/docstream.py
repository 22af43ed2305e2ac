"""A JSON document of any size read one object at a time, in memory bounded by the largest
object (a ``kubectl get pods -A -o json`` of a big cluster is hundreds of MB).

The top level is walked by hand: a ``List``'s ``items``, a top-level array's elements and
concatenated values (``kubectl get -w -o json``) are each decoded by :mod:`json`'s C decoder
from a sliding window of text, and handed out with a :class:`~killproof.sources.docpos.
Positions` of their own that knows their first line, so evidence still cites the line.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, NoReturn

from killproof.errors import InputError
from killproof.sources.docpos import Positions, decoder
from killproof.sources.sniff import strip_nuls

READ_BYTES = 1 << 20
"""Bytes read at a time."""
MAX_ITEM_CHARS = 64 << 20
"""A single object larger than this is refused (characters): memory stays bounded."""
_WS = re.compile(r"[ \t\r\n]*")
_NEAR_END = 16
"""A decode error this close to the end of the window may be the window's end, not damage."""


class _Window:
    """A sliding window of decoded text over a byte stream, with line numbers."""

    def __init__(self, stream: BinaryIO, path: str) -> None:
        self.stream = stream
        self.path = path
        self.text = ""
        self.pos = 0
        self.keep: int | None = None  # text from here on is kept when the window slides
        self.eof = False
        self.line = 1  # the line of text[0]
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self._counted = (0, 1)  # (offset, line) up to which newlines are counted

    def more(self, at_least: int = READ_BYTES) -> bool:
        """Read on (dropping consumed text); False at the end of the stream."""
        if self.eof:
            return False
        drop = self.pos if self.keep is None else min(self.pos, self.keep)
        if drop:
            self.line = self.line_at(drop)
            self.text = self.text[drop:]
            self.pos -= drop
            self.keep = None if self.keep is None else self.keep - drop
            self._counted = (0, self.line)
        if self.keep is not None and len(self.text) - self.keep > MAX_ITEM_CHARS:
            self.fail(f"one value is over {MAX_ITEM_CHARS >> 20} MiB")
        data = self.stream.read(max(at_least, READ_BYTES))
        self.eof = not data
        self.text += self._decode(strip_nuls(data), final=self.eof)
        return not self.eof or bool(data)

    def line_at(self, offset: int) -> int:
        """1-based line of ``text[offset]`` (offsets only move forward between calls)."""
        start, line = self._counted
        if offset < start:
            start, line = 0, self.line
        line += self.text.count("\n", start, offset)
        self._counted = (offset, line)
        return line

    def peek(self) -> str:
        """The next non-blank character ("" at the end), consumed blanks dropped."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos : self.pos + 1]

    def expect(self, chars: str) -> str:
        """Consume the next non-blank character, which must be one of ``chars``."""
        c = self.peek()
        if not c or c not in chars:
            self.fail(f"expecting one of {chars!r}")
        self.pos += 1
        return c

    def value(self) -> tuple[Any, int, int]:
        """The next JSON value: (value, start offset, end offset) in :attr:`text`."""
        self.peek()
        while True:
            start = self.pos
            try:
                value, end = decoder().raw_decode(self.text, start)
            except json.JSONDecodeError as exc:
                near_end = exc.pos >= len(self.text) - _NEAR_END
                unfinished = near_end or exc.msg.startswith("Unterminated")
                if self.eof or not unfinished:
                    self.fail(exc.msg, exc.pos)
                if len(self.text) - start > MAX_ITEM_CHARS:
                    self.fail(f"one value is over {MAX_ITEM_CHARS >> 20} MiB")
                self.more(len(self.text) - start)  # at least double: linear overall
                continue
            except RecursionError:
                self.fail("JSON nested too deeply")
            self.pos = end
            return value, start, end

    def fail(self, why: str, offset: int | None = None) -> NoReturn:
        line = self.line_at(self.pos if offset is None else offset)
        raise InputError(f"malformed JSON at line {line}: {why}", self.path, line)


def _item(window: _Window) -> tuple[Any, Positions]:
    value, start, end = window.value()
    positions = Positions.of_element(window.text[start:end], value, window.line_at(start))
    return value, positions


def _elements(window: _Window) -> Iterator[tuple[Any, Positions]]:
    """The elements of the array whose ``[`` was just consumed."""
    if window.peek() == "]":
        window.pos += 1
        return
    while True:
        yield _item(window)
        if window.expect(",]") == "]":
            return


def _object(window: _Window) -> Iterator[tuple[Any, Positions]]:
    """The items of the object at the window's position (a List), or the object itself."""
    window.keep = window.pos  # kept whole until it shows an "items" list
    window.pos += 1
    rest: dict[str, Any] = {}
    if window.peek() == "}":
        window.pos += 1
    else:
        while True:
            if window.peek() != '"':
                window.fail("expecting a key")
            key, _, _ = window.value()
            window.expect(":")
            if key == "items" and window.peek() == "[":
                window.keep = None  # a List: its items are read one by one, never kept
                window.pos += 1
                yield from _elements(window)
            else:
                rest[str(key)], _, _ = window.value()
            if window.expect(",}") == "}":
                break
    if window.keep is not None:  # not a List: the object is one item
        start, window.keep = window.keep, None
        text = window.text[start : window.pos]
        yield rest, Positions.of_element(text, rest, window.line_at(start))


def stream_items(stream: BinaryIO, path: str) -> Iterator[tuple[Any, Positions]]:
    """Each object of a JSON input (a List's items, an array's elements, or each of several
    concatenated values) with its positions. Raises :class:`InputError` naming the line
    where the JSON is malformed or truncated (after the objects before it)."""
    window = _Window(stream, path)
    while c := window.peek():
        if c == "[":
            window.pos += 1
            yield from _elements(window)
        elif c == "{":
            yield from _object(window)
        else:
            yield _item(window)
