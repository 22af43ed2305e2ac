"""systemd unit files (``.service`` and drop-in ``.conf``): directives with their lines.

Follows systemd.syntax(7): ``[Section]`` headers, ``Key=Value`` lines, ``#``/``;`` comments,
backslash continuations; a later assignment wins and an empty one resets a list.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass


class UnitError(ValueError):
    """A unit file systemd would not load; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Directive:
    """One ``Key=Value`` assignment in a section, with its path and 1-based line."""

    section: str
    key: str
    value: str
    path: str
    line: int


@dataclass(frozen=True)
class SystemdUnit:
    """A unit and its drop-ins merged in order; ``path`` is the main file."""

    path: str
    name: str
    directives: tuple[Directive, ...]
    section_lines: tuple[tuple[str, int], ...] = ()

    def get(self, section: str, key: str) -> Directive | None:
        """The assignment that counts (the last one; None when the last one is empty)."""
        found = None
        for d in self.directives:
            if d.section == section and d.key == key:
                found = d if d.value != "" else None
        return found

    def all(self, section: str, key: str) -> list[Directive]:
        """Every assignment of a list-valued key since the last empty reset."""
        out: list[Directive] = []
        for d in self.directives:
            if d.section == section and d.key == key:
                out = [] if d.value == "" else [*out, d]
        return out

    def section_line(self, section: str) -> int:
        """The line of ``[section]`` in the main file (1 when absent)."""
        for name, line in self.section_lines:
            if name == section:
                return line
        return 1

    def environment(self) -> dict[str, tuple[str, Directive]]:
        """``Environment=`` assignments: name → (value, directive)."""
        out: dict[str, tuple[str, Directive]] = {}
        for d in self.all("Service", "Environment"):
            try:
                words = shlex.split(d.value)
            except ValueError:
                words = d.value.split()
            for word in words:
                name, eq, value = word.partition("=")
                if eq:
                    out[name] = (value, d)
        return out

    def exec_argv(self) -> list[str]:
        """``ExecStart=`` split into words, with the ``@-:+!`` prefixes removed."""
        d = self.get("Service", "ExecStart")
        if d is None:
            return []
        try:
            words = shlex.split(d.value)
        except ValueError:
            words = d.value.split()
        if words:
            words[0] = words[0].lstrip("@-:+!")
        return words


_SECTION = re.compile(r"^\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^([A-Za-z0-9_-]+)\s*=\s*(.*)$")


def parse_unit_text(text: str, path: str) -> tuple[list[Directive], list[tuple[str, int]]]:
    """Directives and section header lines of one unit file or drop-in."""
    directives: list[Directive] = []
    sections: list[tuple[str, int]] = []
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
            continue
        parts = [line]  # joined once: appending line by line is quadratic
        while parts[-1].endswith("\\") and i < len(lines):
            nxt = lines[i].strip()
            i += 1
            parts[-1] = parts[-1][:-1]
            parts.append("" if nxt[:1] in ("#", ";") else nxt)
        line = " ".join(parts)
        if m := _SECTION.match(line):
            section = m[1].strip()
            sections.append((section, start))
            continue
        m = _KEY.match(line)
        if m is None:
            raise UnitError(f"not a 'Key=Value' line: {line[:60]!r}", start)
        if not section:
            raise UnitError("assignment outside of a [Section]", start)
        directives.append(Directive(section, m[1], m[2].strip(), path, start))
    return directives, sections


def parse_unit(text: str, path: str, dropins: list[tuple[str, str]] | None = None) -> SystemdUnit:
    """A unit with its drop-ins (``(text, path)`` pairs, applied in the given order)."""
    directives, sections = parse_unit_text(text, path)
    for drop_text, drop_path in dropins or []:
        more, _ = parse_unit_text(drop_text, drop_path)
        directives += more
    name = path.rsplit("/", 1)[-1]
    return SystemdUnit(path, name, tuple(directives), tuple(sections))
