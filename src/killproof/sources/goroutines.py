"""Parse Go's goroutine dumps: ``/debug/pprof/goroutine?debug=1`` and tracebacks.

- ``debug=1`` (``printCountProfile`` in runtime/pprof): a ``goroutine profile: total N``
  header, then one block per distinct stack — ``COUNT @ 0xPC …``, an optional
  ``# labels:`` line, frames ``#\\t0xPC\\tfunc+0xOFF\\tfile:line`` — sorted by count.
- ``debug=2`` and the dump a Go program writes on SIGQUIT: ``goroutine ID [state]:``
  blocks of ``func(args)`` / ``\\tfile:line +0xOFF`` pairs. Goroutines with the same state
  and stack are grouped, so a shutdown that hangs shows "40 × chan receive in drain()".

Both return a :class:`ProfileError` value, never raise, on text they cannot read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from killproof.model import JSONValue
from killproof.sources.pprof import Frame, ProfileError

_HEADER = re.compile(r"^goroutine profile: total (\d+)\s*$")
_COUNT = re.compile(r"^(\d+) @(?: 0x[0-9a-fA-F]+)*\s*$")
_FRAME1 = re.compile(r"^#\s+0x[0-9a-fA-F]+\s+(\S+?)(?:\+0x[0-9a-fA-F]+)?\s+(.+):(\d+)\s*$")
_GOROUTINE = re.compile(r"^goroutine (\d+)(?: gp=\S+ m=\S+(?: mp=\S+)?)? \[([^\]]*)\]:\s*$")
_CALL = re.compile(r"^(?P<created>created by )?(?P<func>.+?)(?:\(.*\))?(?: in goroutine \d+)?$")
# "\tfile:line +0xOFF", and in a SIGQUIT dump also " fp=… sp=… pc=…" after it.
_POSITION = re.compile(r"^\t(\S.*?):(\d+)(?:\s.*)?$")


@dataclass(frozen=True)
class GoroutineStack:
    """``count`` goroutines sharing one stack (innermost frame first) and state."""

    count: int
    frames: tuple[Frame, ...]
    state: str = ""
    """Wait reason from a traceback (``chan receive``, ``select``); '' for debug=1."""

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form."""
        return {"count": self.count, "state": self.state, "frames": [str(f) for f in self.frames]}

    @property
    def where(self) -> Frame | None:
        """The innermost frame outside the Go runtime (where the goroutine waits), if any.

        A SIGQUIT dump shows ``runtime.gopark`` and friends first; debug=1 hides them.
        """
        for frame in self.frames:
            if not frame.function.startswith(("runtime.", "created by ")):
                return frame
        return self.frames[0] if self.frames else None


@dataclass(frozen=True)
class GoroutineDump:
    """All goroutines of one dump, grouped by stack, largest group first."""

    total: int
    stacks: tuple[GoroutineStack, ...]

    def top_stacks(self, limit: int = 5) -> tuple[GoroutineStack, ...]:
        """The ``limit`` most common stacks."""
        return self.stacks[:limit]


def parse_goroutine_text(text: str) -> GoroutineDump | ProfileError:
    """Parse a ``/debug/pprof/goroutine?debug=1`` body."""
    lines = text.splitlines()
    header = _HEADER.match(lines[0]) if lines else None
    if header is None:
        return ProfileError("not a goroutine profile: no 'goroutine profile: total N' header")
    stacks: list[GoroutineStack] = []
    count: int | None = None
    frames: list[Frame] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            if count is not None:
                stacks.append(GoroutineStack(count, tuple(frames)))
            count, frames = None, []
            continue
        if (match := _COUNT.match(line)) is not None:
            if count is not None:
                stacks.append(GoroutineStack(count, tuple(frames)))
            count, frames = int(match.group(1)), []
        elif line.startswith("# labels:"):
            continue
        elif (match := _FRAME1.match(line)) is not None and count is not None:
            frames.append(Frame(match.group(1), match.group(2), int(match.group(3))))
        else:
            return ProfileError(f"line {number} of the goroutine profile is not understood")
    if count is not None:
        stacks.append(GoroutineStack(count, tuple(frames)))
    stacks.sort(key=lambda s: -s.count)
    return GoroutineDump(int(header.group(1)), tuple(stacks))


def parse_goroutine_traceback(text: str) -> GoroutineDump | ProfileError:
    """Parse a ``debug=2`` body or a SIGQUIT dump (other lines, such as registers, are skipped)."""
    groups: dict[tuple[str, tuple[Frame, ...]], int] = {}
    order: list[tuple[str, tuple[Frame, ...]]] = []
    total = 0
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        header = _GOROUTINE.match(lines[i])
        i += 1
        if header is None:
            continue
        total += 1
        state = header.group(2).split(",")[0].strip()
        frames: list[Frame] = []
        while i < len(lines) and lines[i].strip():
            call = lines[i]
            position = _POSITION.match(lines[i + 1]) if i + 1 < len(lines) else None
            match = _CALL.match(call)
            if match is None or call.startswith("\t"):
                i += 1
                continue
            name = ("created by " if match.group("created") else "") + match.group("func")
            if position is not None:
                frames.append(Frame(name, position.group(1), int(position.group(2))))
                i += 2
            else:
                frames.append(Frame(name))
                i += 1
        key = (state, tuple(frames))
        if key not in groups:
            order.append(key)
            groups[key] = 0
        groups[key] += 1
    if total == 0:
        return ProfileError("no 'goroutine N [state]:' block in the dump")
    stacks = [GoroutineStack(groups[k], k[1], k[0]) for k in order]
    stacks.sort(key=lambda s: -s.count)
    return GoroutineDump(total, tuple(stacks))
