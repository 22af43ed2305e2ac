"""Which Go program each launch and Dockerfile runs.

Evidence, strongest first: a ``pairs:`` entry in ``.killproof.yaml``; the command's
executable name (argv[0], the ``exec``-ed command of ``sh -c``, the child of tini/dumb-init,
a unit's ``ExecStart=``); a compose build context that is a Go main's directory; the
Dockerfile a compose service builds (its ``go build`` package or ``-o`` name, ENTRYPOINT/CMD,
a COPY of a prebuilt binary, or the main package it sits in); the image name's last path
element; and, in a repo with one Go main and one workload, the obvious pair. A name that
matches two programs links nothing: a wrong link would make cross-layer findings lie.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence

from killproof.check.deploy_facts import Launch, LinkedDockerfile, LinkedLaunch
from killproof.check.facts import GoProgram
from killproof.sources.dockerfile import Dockerfile

_SHELLS = {"sh", "bash", "ash", "dash", "zsh"}
_GO_BUILD_OUT = re.compile(r"\bgo\s+build\b(?P<rest>[^&;|]*)")


def _base(word: str) -> str:
    return posixpath.basename(word.strip("\"'"))


def image_name(image: str) -> str:
    """The last path element of an image reference, without tag or digest."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _executable(argv: Sequence[str]) -> str:
    """The program a command runs: argv[0], or what ``sh -c``/``exec`` runs inside it."""
    if not argv:
        return ""
    first = _base(argv[0])
    if first in _SHELLS and "-c" in argv:
        script = argv[argv.index("-c") + 1] if argv.index("-c") + 1 < len(argv) else ""
        words = [w for w in re.split(r"[;&|\n]+", script)[-1].split() if w != "exec"]
        return _base(words[0]) if words else ""
    if first in ("tini", "dumb-init", "tini-static") and len(argv) > 1:
        rest = [w for w in argv[1:] if not w.startswith("-")]
        return _base(rest[0]) if rest else ""
    return first


def _unique(programs: Sequence[GoProgram], name: str) -> GoProgram | None:
    if not name:
        return None
    found = [p for p in programs if p.binary_name == name]
    if not found:
        found = [p for p in programs if posixpath.basename(p.dir) == name]
    return found[0] if len(found) == 1 else None


def dockerfile_program(
    dockerfile: Dockerfile, programs: Sequence[GoProgram], context: str
) -> GoProgram | None:
    """The program a Dockerfile builds or runs (``context`` is the build context dir)."""
    for stage in dockerfile.stages:
        for run in stage.all("RUN"):
            for match in _GO_BUILD_OUT.finditer(run.text):
                words = match["rest"].split()
                packages = [
                    w
                    for w in words
                    if w.startswith((".", "/")) or ("/" in w and not w.startswith("-"))
                ]
                for i, word in enumerate(words):
                    if (
                        word == "-o"
                        and i + 1 < len(words)
                        and (p := _unique(programs, _base(words[i + 1])))
                    ):
                        return p
                for pkg in packages:
                    target = posixpath.normpath(
                        posixpath.join(context, pkg.rstrip("/").removesuffix("/..."))
                    )
                    for p in programs:
                        if p.dir == target or (
                            pkg.strip("./") and p.dir.endswith(pkg.strip("./").rstrip("/"))
                        ):
                            return p
    entrypoint, cmd = dockerfile.entry()
    for ins in (entrypoint, cmd):
        if ins is not None and (p := _unique(programs, _executable(ins.argv()))):
            return p
    for copy in dockerfile.final.all("COPY"):  # a prebuilt binary copied into the image
        sources = [w for w in copy.words() if not w.startswith("--")][:-1]
        for source in sources:
            if (p := _unique(programs, _base(source))) is not None:
                return p
    here = posixpath.dirname(dockerfile.path) or "."
    inside = [p for p in programs if p.dir == here]
    return inside[0] if len(inside) == 1 else None


def link_dockerfiles(
    dockerfiles: Sequence[Dockerfile], programs: Sequence[GoProgram]
) -> list[LinkedDockerfile]:
    """Each Dockerfile with the program it builds (context: its directory, else the root)."""
    out = []
    for df in dockerfiles:
        program = dockerfile_program(df, programs, posixpath.dirname(df.path) or ".")
        if program is None:
            program = dockerfile_program(df, programs, ".")
        if program is None and len(programs) == 1 and len(dockerfiles) == 1:
            program = programs[0]
        out.append(LinkedDockerfile(df, program))
    return out


def link_launches(
    launches: Sequence[Launch],
    programs: Sequence[GoProgram],
    dockerfiles: Sequence[LinkedDockerfile],
    pairs: Mapping[str, str],
) -> list[LinkedLaunch]:
    """Link every launch; ``pairs`` maps a launch name to a program dir (from config)."""
    by_dir = {p.dir: p for p in programs}
    by_path = {d.dockerfile.path: d for d in dockerfiles}
    by_image: dict[str, LinkedDockerfile] = {}
    for d in dockerfiles:
        if d.program is not None:
            by_image.setdefault(posixpath.basename(posixpath.dirname(d.dockerfile.path)), d)
    out: list[LinkedLaunch] = []
    for launch in launches:
        linked = _link_one(launch, programs, by_dir, by_path, by_image, pairs)
        out.append(linked)
    if len(programs) == 1:
        unlinked = {x.launch.identity for x in out if x.program is None}
        if len(unlinked) == 1 and all(x.program is None for x in out):
            out = [
                LinkedLaunch(x.launch, programs[0], x.dockerfile, "only Go main, only workload")
                for x in out
            ]
    return out


def _link_one(
    launch: Launch,
    programs: Sequence[GoProgram],
    by_dir: Mapping[str, GoProgram],
    by_path: Mapping[str, LinkedDockerfile],
    by_image: Mapping[str, LinkedDockerfile],
    pairs: Mapping[str, str],
) -> LinkedLaunch:
    for name in sorted(launch.names):
        if name in pairs:
            program = by_dir.get(pairs[name].strip("./") or ".") or by_dir.get(pairs[name])
            if program is not None:
                return LinkedLaunch(launch, program, None, f"pairs: {name} → {program.dir}")
    dockerfile = by_path.get(launch.build[1]) if launch.build else None
    exe = _executable(launch.argv)
    if (program := _unique(programs, exe)) is not None:
        return LinkedLaunch(
            launch, program, dockerfile.dockerfile if dockerfile else None, f"command {exe}"
        )
    if launch.build is not None and launch.build[0] in by_dir:
        program = by_dir[launch.build[0]]
        built = dockerfile.dockerfile if dockerfile else None
        return LinkedLaunch(launch, program, built, f"build context {launch.build[0]}")
    if dockerfile is not None and dockerfile.program is not None:
        return LinkedLaunch(
            launch, dockerfile.program, dockerfile.dockerfile, f"build {dockerfile.dockerfile.path}"
        )
    if launch.image:
        name = image_name(launch.image)
        if (program := _unique(programs, name)) is not None:
            df = by_image.get(name)
            return LinkedLaunch(launch, program, df.dockerfile if df else None, f"image {name}")
        if (df := by_image.get(name)) is not None:
            return LinkedLaunch(launch, df.program, df.dockerfile, f"image {name}")
    return LinkedLaunch(launch, None, dockerfile.dockerfile if dockerfile else None)
