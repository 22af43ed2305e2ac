"""Small helpers deploy-file rules share to say where a finding is and what proves it."""

from __future__ import annotations

from killproof.facts.go_program import GoProgram
from killproof.model import Evidence, Location
from killproof.sources.deploy.yamltree import Pos


def loc(pos: Pos, subject: str = "") -> Location:
    """A file location (1-based line) with an optional subject (``Deployment/api …``)."""
    return Location(path=pos.path, line=pos.line, subject=subject)


def ev(text: str, pos: Pos) -> Evidence:
    """A quoted fact with the file line it comes from."""
    return Evidence(text=text, path=pos.path, line=pos.line)


def program_ev(program: GoProgram, what: str) -> Evidence:
    """Evidence from the Go side: ``what`` the program does, and where its main is."""
    return Evidence(
        text=f"Go main {program.dir} ({program.binary_name}): {what}",
        path=program.location.path,
        line=program.location.line,
    )


def seconds(value: float) -> str:
    """``30s``, ``2.5s`` — seconds for messages."""
    return f"{value:g}s"
