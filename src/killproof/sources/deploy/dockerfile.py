"""Dockerfiles: instructions with their lines, stages, and what the final image runs.

Handles line continuations (and the ``# escape=`` directive), comments, heredocs,
exec (JSON) and shell forms, multi-stage builds and stages built ``FROM`` earlier stages
(which inherit ENTRYPOINT, CMD, ENV and STOPSIGNAL).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})  # fmt: skip


_SUPERVISOR = re.compile(r"s6-overlay|s6-svscan|supervisord|runsvdir", re.IGNORECASE)
_SUPERVISOR_NAMES = {
    "s6-overlay": "s6-overlay", "s6-svscan": "s6-overlay", "supervisord": "supervisord",
    "runsvdir": "runit",
}  # fmt: skip
_SUPERVISOR_KEYWORDS = frozenset({"RUN", "COPY", "ADD", "ENTRYPOINT", "CMD"})


class DockerfileError(ValueError):
    """A Dockerfile that Docker itself would refuse; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Instruction:
    """One instruction: keyword (upper case), raw argument text, 1-based start line."""

    keyword: str
    text: str
    line: int

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ENTRYPOINT/CMD/RUN/SHELL, else None (shell form)."""
        stripped = self.text.strip()
        if not stripped.startswith("["):
            return None
        try:
            value = json.loads(stripped)
        except ValueError:
            return None  # Docker runs invalid JSON as a shell command
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None

    def argv(self) -> list[str]:
        """What Docker runs: the exec form as is, the shell form as ``/bin/sh -c TEXT``."""
        form = self.exec_form
        return form if form is not None else ["/bin/sh", "-c", self.text.strip()]

    def flags(self) -> dict[str, str]:
        """Leading ``--name=value`` flags (``COPY --from=build``)."""
        out: dict[str, str] = {}
        for token in self.text.split():
            if not token.startswith("--"):
                break
            name, _, value = token[2:].partition("=")
            out[name] = value
        return out

    def words(self) -> list[str]:
        """The shell words of the arguments (quotes honoured; unbalanced ones tolerated)."""
        try:
            return shlex.split(self.text, comments=False)
        except ValueError:
            return self.text.split()


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` stage: base image, optional name, its instructions."""

    base: str
    name: str
    line: int
    instructions: tuple[Instruction, ...] = ()

    def last(self, keyword: str) -> Instruction | None:
        """The last instruction with this keyword in this stage (the one that counts)."""
        for ins in reversed(self.instructions):
            if ins.keyword == keyword:
                return ins
        return None

    def all(self, keyword: str) -> Iterator[Instruction]:
        """All instructions with this keyword, in order."""
        return (i for i in self.instructions if i.keyword == keyword)


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile; ``path`` is relative to the checked root."""

    path: str
    stages: tuple[Stage, ...]
    comments: tuple[tuple[int, str], ...] = field(default=())

    @property
    def final(self) -> Stage:
        """The stage that becomes the image."""
        return self.stages[-1]

    def effective(self, keyword: str) -> Instruction | None:
        """The ENTRYPOINT/CMD/STOPSIGNAL the image ends up with, following FROM <stage>."""
        stage: Stage | None = self.final
        seen: set[str] = set()
        while stage is not None:
            found = stage.last(keyword)
            if found is not None:
                return found
            # CMD is reset by a later ENTRYPOINT in the same stage: handled by callers.
            seen.add(stage.name)
            stage = self._stage_named(stage.base) if stage.base not in seen else None
        return None

    def entry(self) -> tuple[Instruction | None, Instruction | None]:
        """The image's (ENTRYPOINT, CMD): a CMD older than the ENTRYPOINT was reset by it."""
        entrypoint = self.effective("ENTRYPOINT")
        cmd = self.effective("CMD")
        if entrypoint is not None and cmd is not None and cmd.line < entrypoint.line:
            cmd = None  # setting ENTRYPOINT resets an inherited or earlier CMD
        return entrypoint, cmd

    def base_image(self) -> str:
        """The external image the final stage is built on (``FROM <stage>`` followed)."""
        stage: Stage | None = self.final
        seen: set[str] = set()
        while stage is not None and stage.name not in seen:
            seen.add(stage.name)
            parent = self._stage_named(stage.base)
            if parent is None:
                return stage.base
            stage = parent
        return ""

    def env(self) -> dict[str, tuple[str, int]]:
        """ENV of the final image (inherited stages first): name → (value, line)."""
        chain: list[Stage] = []
        seen: set[int] = set()
        stage: Stage | None = self.final
        while stage is not None and id(stage) not in seen:
            chain.append(stage)
            seen.add(id(stage))
            stage = self._stage_named(stage.base)
        out: dict[str, tuple[str, int]] = {}
        for st in reversed(chain):
            for ins in st.all("ENV"):
                for name, value in _env_pairs(ins.text):
                    out[name] = (value, ins.line)
        return out

    def supervisor(self) -> str:
        """The process supervisor the image runs several services under (``s6-overlay``,
        ``supervisord``, ``runit``), or "" when its entrypoint runs one program. Read from
        the final image's stages: an ``S6_*`` variable, the supervisor installed, copied or
        started."""
        stage: Stage | None = self.final
        seen: set[int] = set()
        while stage is not None and id(stage) not in seen:
            seen.add(id(stage))
            for ins in stage.instructions:
                if ins.keyword == "ENV" and any(
                    n.startswith("S6_") for n, _ in _env_pairs(ins.text)
                ):
                    return "s6-overlay"
                if ins.keyword in _SUPERVISOR_KEYWORDS and (m := _SUPERVISOR.search(ins.text)):
                    return _SUPERVISOR_NAMES[m.group(0).lower()]
            stage = self._stage_named(stage.base)
        return ""

    def _stage_named(self, name: str) -> Stage | None:
        return self._by_name.get(name.lower())

    @cached_property
    def _by_name(self) -> dict[str, Stage]:
        """Named stages (the first of a repeated name), looked up once per FROM."""
        out: dict[str, Stage] = {}
        for st in self.stages:
            if st.name:
                out.setdefault(st.name, st)
        return out


def _env_pairs(text: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # legacy "ENV NAME value"
    return [(w.split("=", 1)[0], w.split("=", 1)[1]) for w in words if "=" in w]


_DIRECTIVE = re.compile(r"^#\s*(escape|syntax|check)\s*=\s*(\S+)", re.IGNORECASE)
_HEREDOC = re.compile(r"<<-?\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?")


def parse_dockerfile(text: str, path: str) -> Dockerfile:
    """Parse ``text``; raises :class:`DockerfileError` where Docker would refuse the file."""
    lines = text.splitlines()
    escape = "\\"
    comments: list[tuple[int, str]] = []
    i = 0
    # Parser directives: only at the very top, before any comment or instruction.
    while i < len(lines) and (m := _DIRECTIVE.match(lines[i].strip())):
        if m[1].lower() == "escape":
            escape = m[2]
        i += 1
    stages: list[Stage] = []
    names: set[str] = set()  # of the stages so far (rebuilding it per FROM is quadratic)
    current: list[Instruction] = []
    head: tuple[str, str, int] | None = None
    while i < len(lines):
        raw = lines[i]
        start = i + 1
        stripped = raw.strip()
        i += 1
        if not stripped:
            continue
        if stripped.startswith("#"):
            comments.append((start, stripped))
            continue
        text_parts = [raw.rstrip()]
        continued = text_parts[-1].endswith(escape)
        while continued and i < len(lines):
            if text_parts[-1].endswith(escape):
                text_parts[-1] = text_parts[-1][: -len(escape)]
            nxt = lines[i]
            i += 1
            # Docker drops comment and empty lines inside a continuation and goes on
            # reading: `RUN a \` / `# why` / `&& b` is one RUN.
            if not nxt.strip() or nxt.strip().startswith("#"):
                if nxt.strip():
                    comments.append((i, nxt.strip()))
                continue
            text_parts.append(nxt.rstrip())
            continued = text_parts[-1].endswith(escape)
        full = " ".join(p.strip() for p in text_parts if p.strip())
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword not in INSTRUCTIONS:
            raise DockerfileError(f"unknown instruction {keyword!r}", start)
        for marker in _HEREDOC.findall(args) if keyword in ("RUN", "COPY", "ADD") else []:
            while i < len(lines) and lines[i].strip() != marker:
                i += 1
            i += 1  # the terminator line
        ins = Instruction(keyword, args.strip(), start)
        if keyword == "FROM":
            if head is not None:
                stages.append(Stage(head[0], head[1], head[2], tuple(current)))
                if head[1]:
                    names.add(head[1])
            words = [w for w in ins.words() if not w.startswith("--")]
            if not words:
                raise DockerfileError("FROM needs an image", start)
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else ""
            head = (
                words[0].lower() if words[0].lower() in names else words[0],
                name,
                start,
            )
            current = []
            continue
        if head is None and keyword != "ARG":
            raise DockerfileError(f"{keyword} before the first FROM", start)
        if head is not None:
            current.append(ins)
    if head is None:
        raise DockerfileError("no FROM instruction", max(len(lines), 1))
    stages.append(Stage(head[0], head[1], head[2], tuple(current)))
    return Dockerfile(path, tuple(stages), tuple(comments))


# ``dockerfile.py`` is code about Dockerfiles and ``Dockerfile.j2`` a template, not a Dockerfile.
_NOT_DOCKERFILE_SUFFIXES = (
    ".py", ".go", ".md", ".rst", ".txt", ".sh", ".json", ".yaml", ".yml", ".toml",
    ".j2", ".tmpl", ".tpl", ".orig", ".rej", ".swp",
)  # fmt: skip


def is_dockerfile_name(name: str) -> bool:
    """``Dockerfile``, ``Containerfile``, ``Dockerfile.prod``, ``api.Dockerfile`` … but not
    ``dockerfile.py`` or ``Dockerfile.j2``."""
    lower = name.lower()
    if lower.endswith(_NOT_DOCKERFILE_SUFFIXES):
        return False
    return (
        lower in ("dockerfile", "containerfile")
        or lower.startswith(("dockerfile.", "containerfile."))
        or lower.endswith((".dockerfile", ".containerfile"))
    )
