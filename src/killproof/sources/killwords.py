"""Lines that look like kill evidence, whether or not a parser understood them.

``why`` must never answer "No kill found" over a log that plainly holds a kill in a format
it does not know. :class:`KillLikeCollector` rides along with the real parsers and keeps the
lines whose words say a process was killed (``oom-kill``, ``OOMKilled``, ``Killed
process``, ``SIGKILL``, exit 137, ``Evicted``, earlyoom's and oomd's kill verbs …);
:func:`not_understood` keeps those that no event cites or sits beside. Words that only say
memory ran low (a Go ``out of memory`` throw, V8's heap limit, earlyoom's thresholds) are
not kill evidence. At most :data:`MAX_CANDIDATES` lines are kept per input, each cut to
:data:`MAX_TEXT_CHARS`, so the cost stays linear and the memory bounded.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from killproof.facts.kill import KillEvent

MAX_CANDIDATES = 1000
"""Kill-like lines kept per input (the report lists the first few and counts the rest)."""
MAX_TEXT_CHARS = 300
"""A kept line is cut to this many characters."""
NEIGHBOURHOOD = 10
"""A kill-like line this many lines from an event's evidence belongs to that record (the
``oom_reaper`` line after a victim line, a unit's result line)."""

# Anchors are literal and case-sensitive (the scanner's contract); the regex decides.
ANCHORS = (
    "oom",
    "OOM",
    "Oom",
    "kill",
    "Kill",
    "KILL",
    "Evicted",
    "xit code",
    "xit Code",
    "xitCode",
    "xit status",
    "xited with",
    "signal 9",
    "signal: 9",
)
_KILL_LIKE = re.compile(
    r"oom[-_ ]?kill|OOMKill|killed process|kill process|\bkilled by\b|sigkill|signal:? 9\b"
    r"|status=9/KILL|\bsignal: killed\b|exit(?:ed)?(?: with)?(?: code| status)?:? {0,8}137\b"
    r"|exit code:? {0,8}137\b|\bevicted\b|lowmemorykiller|oomd\b.{0,40}\bkill"
    r"|earlyoom\b.{0,40}\bkill|\bkilling process|\bkilled\s*$",
    re.IGNORECASE,
)
# Said about a threshold or a plan, not about a death.
_NOT_A_KILL = re.compile(
    r"SIGKILL when mem|sending SIGTERM when|dry.?run|would kill|no process to kill|"
    r"kill -9 .{0,40}(?:failed|No such process)|oom_score_adj|--oom-kill-disable|"
    r"oom_kill_disable|memory\.oom\.group|"
    # a call-trace frame (oom_kill_process+0x82/0x2a0) is part of a report, not a verdict
    r"\+0x[0-9a-f]{1,16}/0x|"
    # systemd-oomd weighing candidates
    r"cgroups for killing",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class KillLikeLine:
    """One line that reads like kill evidence (``line`` is 1-based)."""

    path: str
    line: int
    text: str

    def to_json(self) -> dict[str, object]:
        """JSON form (``{path, line, text}``)."""
        return {"path": self.path, "line": self.line, "text": self.text}


def looks_like_kill(text: str) -> bool:
    """True when ``text`` reads like evidence that a process was killed."""
    return _KILL_LIKE.search(text) is not None and _NOT_A_KILL.search(text) is None


class KillLikeCollector:
    """A line parser that yields no event: it keeps kill-like lines (see module doc)."""

    anchors: tuple[str, ...] = ANCHORS

    def __init__(self, path: str, sink: list[KillLikeLine]) -> None:
        self.path = path
        self._sink = sink
        self._kept = 0

    @property
    def wants_context(self) -> bool:
        """Never."""
        return False

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Keep the line when it reads like a kill (up to :data:`MAX_CANDIDATES`)."""
        if self._kept < MAX_CANDIDATES and looks_like_kill(line[: MAX_TEXT_CHARS * 4]):
            self._kept += 1
            self._sink.append(KillLikeLine(self.path, lineno, line.strip()[:MAX_TEXT_CHARS]))
        return ()

    def finish(self) -> Iterable[KillEvent]:
        """Nothing to hand out."""
        return ()


def not_understood(
    candidates: Sequence[KillLikeLine], events: Sequence[KillEvent]
) -> list[KillLikeLine]:
    """The kill-like lines no event cites or sits beside (see :data:`NEIGHBOURHOOD`)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for event in events:
        by_path: dict[str, list[int]] = {}
        for ev in event.evidence:
            if ev.line:
                by_path.setdefault(ev.path, []).append(ev.line)
        for path, lines in by_path.items():
            spans.setdefault(path, []).append(
                (min(lines) - NEIGHBOURHOOD, max(lines) + NEIGHBOURHOOD)
            )
    merged: dict[str, tuple[list[int], list[int]]] = {}
    for path, ranges in spans.items():
        starts: list[int] = []
        ends: list[int] = []
        for lo, hi in sorted(ranges):
            if ends and lo <= ends[-1]:
                ends[-1] = max(ends[-1], hi)
            else:
                starts.append(lo)
                ends.append(hi)
        merged[path] = (starts, ends)
    out: list[KillLikeLine] = []
    for c in candidates:
        starts, ends = merged.get(c.path, ([], []))
        i = bisect.bisect_right(starts, c.line) - 1
        if i < 0 or c.line > ends[i]:
            out.append(c)
    return out
