"""Shell entrypoints: does PID 1 become the server (``exec``), or stay a shell?

A shell running as PID 1 receives SIGTERM and, unless it traps it, neither forwards it nor
exits, so the runtime waits out the grace period and sends SIGKILL. ``exec server`` replaces
the shell with the server, which then gets the signal itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    """An entrypoint script: where it is and whether it hands PID 1 to the server."""

    path: str
    execs: bool
    last_line: int
    last_command: str


SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_CLOSERS = {"fi", "done", "esac", "}", ")", ";;", "else", "then", "do"}
_EXEC = re.compile(r"^\s*exec\s+(?![<>&0-9]|\d*[<>])\S")
# Two searches, not `trap.*TERM`: on a line of many `trap` words and no TERM that one
# pattern backtracks from every `trap` to the end of the line (quadratic).
_TRAP = re.compile(r"\btrap\b")
_TERM = re.compile(r"\b(?:TERM|SIGTERM|15)\b")
_SEPARATOR = re.compile(r";|&&|\|\|")


def _commands(script: str) -> list[tuple[int, str]]:
    out = []
    for number, raw in enumerate(script.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for raw_part in _SEPARATOR.split(line):  # `\s*` around it would be quadratic
            part = raw_part.strip()
            if part and part not in _CLOSERS:
                out.append((number, part))
    return out


def _traps_term(script: str) -> bool:
    """A line with ``trap`` and, after it, TERM/SIGTERM/15 (as words)."""
    for line in script.splitlines():
        trap = _TRAP.search(line)
        if trap is not None and _TERM.search(line, trap.end()):
            return True
    return False


def hands_over(script: str) -> bool:
    """True when the script ``exec``s its last command or traps SIGTERM (and so forwards it)."""
    if _traps_term(script):
        return True
    commands = _commands(script)
    if not commands:
        return True  # nothing runs: nothing to swallow the signal
    return bool(_EXEC.match(commands[-1][1])) or any(
        _EXEC.match(cmd) and "$@" in cmd for _, cmd in commands
    )


def analyze_script(text: str, path: str) -> Script:
    """Whether an entrypoint script hands PID 1 over, and its last command line (1-based)."""
    commands = _commands(text)
    last_line, last = commands[-1] if commands else (1, "")
    return Script(path=path, execs=hands_over(text), last_line=last_line, last_command=last)


def shell_script_of(argv: Sequence[str]) -> str | None:
    """The script of ``sh -c SCRIPT`` (any shell, any path), else None."""
    if len(argv) < 3:
        return None
    shell = argv[0].rsplit("/", 1)[-1]
    if shell not in SHELLS:
        return None
    for i, word in enumerate(argv[1:-1], 1):
        if word.startswith("-") and "c" in word[1:]:
            return argv[i + 1]
    return None


def is_script_name(name: str) -> bool:
    """Files worth reading as entrypoint scripts."""
    lower = name.lower()
    return lower.endswith(".sh") or lower.startswith(
        ("entrypoint", "docker-entrypoint", "start", "run")
    )
