"""go.mod: the module path and the ``go`` directive's language version."""

from __future__ import annotations

import re
from dataclasses import dataclass

_GO_LINE = re.compile(r"^go\s+(?P<v>[0-9]+(?:\.[0-9]+){0,2}(?:[a-z]+[0-9]*)?)\s*(?://.*)?$")
_MODULE_LINE = re.compile(r'^module\s+(?P<m>"[^"]*"|\S+)\s*(?://.*)?$')
_VERSION = re.compile(r"^(?P<major>[0-9]+)(?:\.(?P<minor>[0-9]+))?")


@dataclass(frozen=True)
class GoMod:
    """What killproof reads from a go.mod: ``module`` path and ``go`` version (or None)."""

    module_path: str = ""
    go_version: str | None = None


def parse_gomod(text: str) -> GoMod:
    """Read the ``module`` and ``go`` directives; anything else in the file is ignored.

    go.mod is line-oriented (https://go.dev/ref/mod#go-mod-file-grammar); both directives
    appear once, unindented, outside blocks. Malformed lines are ignored, never fatal.
    """
    module = ""
    version: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not module:
            m = _MODULE_LINE.match(line)
            if m:
                module = m.group("m").strip('"')
                continue
        if version is None:
            g = _GO_LINE.match(line)
            if g:
                version = g.group("v")
    return GoMod(module, version)


def version_tuple(version: str | None) -> tuple[int, int] | None:
    """``"1.22.3"`` → ``(1, 22)``; None when absent or unreadable."""
    if version is None:
        return None
    m = _VERSION.match(version)
    if m is None:
        return None
    return int(m.group("major")), int(m.group("minor") or 0)
