"""Which Go program each launch and Dockerfile runs.

Evidence, strongest first: a ``pairs:`` entry in ``.killproof.yaml``; the command's
executable name (argv[0], the ``exec``-ed command of ``sh -c``, the child of tini/dumb-init,
a unit's ``ExecStart=``); a compose build context that is a Go main's directory; the
Dockerfile a compose service builds (its ``go build`` package or ``-o`` name, ENTRYPOINT/CMD,
a COPY of a prebuilt binary, or the main package it sits in); the image name's last path
element; and, in a repo with one Go main and one workload, the obvious pair. A name that
matches two programs links nothing: a wrong link would make cross-layer findings lie.
A launch whose own command runs something else (a script, a shell loop, another binary of
the image) is not linked through its image or build, whatever the image is.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence

from killproof.facts.deploy import Launch, LinkedDockerfile, LinkedLaunch
from killproof.facts.go_program import GoProgram
from killproof.sources.deploy.dockerfile import Dockerfile
from killproof.sources.deploy.entrypoint import SHELLS, Script, shell_script_of
from killproof.sources.deploy.shell import parse_shell

_GO_BUILD_OUT = re.compile(r"\bgo\s+build\b(?P<rest>[^&;|]*)")


def _base(word: str) -> str:
    return posixpath.basename(word.strip("\"'"))


def image_name(image: str) -> str:
    """The last path element of an image reference, without tag or digest."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _executable(argv: Sequence[str], scripts: Mapping[str, Script] | None = None) -> str:
    """The program a command runs: argv[0]; the last command of ``sh -c`` (read as the
    shell reads it); the child of tini/dumb-init; and, when ``scripts`` holds the script a
    command names (``/entrypoint.sh``, ``sh /scripts/x.sh``), what that script runs last —
    the arguments after it when it ends with ``exec "$@"``."""
    if not argv:
        return ""
    first = _base(argv[0])
    script_text = shell_script_of(argv)
    if script_text is not None:
        last = parse_shell(script_text).last
        cmd = last.command if last is not None else None
        words = [w for w in (cmd.argv if cmd else ()) if w != "exec"]
        return _base(words[0]) if words else first  # a loop: the shell itself runs on
    if first in ("tini", "dumb-init", "tini-static") and len(argv) > 1:
        rest = [w for w in argv[1:] if not w.startswith("-")]
        return _base(rest[0]) if rest else ""
    if scripts is not None:
        rest = list(argv[1:])
        path = argv[0]
        if first in SHELLS and rest and not rest[0].startswith("-"):
            path, rest = rest[0], rest[1:]
        script = _script_named(scripts, path)
        if script is not None:
            if script.runs_args:
                known = rest and not rest[0].startswith("-")
                return _executable(rest, scripts) if known else ""
            return script.last_executable
        if first in SHELLS:
            return _base(path)
    return first


def _script_named(scripts: Mapping[str, Script], path: str) -> Script | None:
    name = posixpath.basename(path)
    found = [s for p, s in scripts.items() if posixpath.basename(p) == name]
    return found[0] if len(found) == 1 else None


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
    scripts: Mapping[str, Script] | None = None,
) -> list[LinkedLaunch]:
    """Link every launch; ``pairs`` maps a launch name to a program dir (from config);
    ``scripts`` (root-relative path → script) lets a command that runs a script be judged
    by what the script runs."""
    by_dir = {p.dir: p for p in programs}
    by_path = {d.dockerfile.path: d for d in dockerfiles}
    by_image: dict[str, LinkedDockerfile] = {}
    for d in dockerfiles:
        if d.program is not None:
            by_image.setdefault(posixpath.basename(posixpath.dirname(d.dockerfile.path)), d)
    out: list[LinkedLaunch] = []
    for launch in launches:
        linked = _link_one(launch, programs, by_dir, by_path, by_image, pairs, scripts or {})
        out.append(linked)
    if len(programs) == 1 and all(x.program is None for x in out):
        runs_other = any(
            _runs_other(x.launch, programs[0], x.dockerfile, scripts or {}) for x in out
        )
        if _workload_count([x.launch for x in out]) == 1 and not runs_other:
            out = [
                LinkedLaunch(x.launch, programs[0], x.dockerfile, "only Go main, only workload")
                for x in out
            ]
    return out


def _workload_count(launches: Sequence[Launch]) -> int:
    """How many workloads the launches are, copies counted once: launches at the same
    base line (kustomize overlays) or with the same kind, name and container (a release
    bundle, an example) are one."""
    parent: dict[object, object] = {}

    def find(key: object) -> object:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for launch in launches:
        if launch.container is not None:
            w = launch.container.workload
            name: object = (w.kind, w.obj.name, launch.container.name)
        else:
            name = (launch.kind.value, launch.subject)
        parent[find(name)] = find(launch.identity)
    return len({find(launch.identity) for launch in launches})


def explicit_command(launch: Launch) -> bool:
    """True when the launch says which executable runs, rather than handing arguments to
    the image's ENTRYPOINT: a container ``command``, a compose ``entrypoint``, ``ExecStart=``,
    or arguments that start with a shell or a path (``args: [/bin/sh, -c, …]``)."""
    if launch.command_set:
        return True
    first = launch.argv[0] if launch.argv else ""
    return _base(first) in SHELLS or first.startswith(("/", "./"))


def built_names(dockerfiles: Sequence[LinkedDockerfile]) -> frozenset[str]:
    """The names this repo's Dockerfiles give its programs' binaries (``go build -o
    manager``, ``ENTRYPOINT ["/manager"]``): a workload whose command is one of them runs
    the repo's code, whatever its image is called."""
    names: set[str] = set()
    for d in dockerfiles:
        if d.program is not None:
            names |= _names_of(d.program, d.dockerfile)
    return frozenset(n.lower() for n in names if len(n) >= 2)


def _names_of(program: GoProgram, dockerfile: Dockerfile | None) -> set[str]:
    """Every name the program's binary goes by: its own, and the image's for it."""
    names = {program.binary_name, posixpath.basename(program.dir)}
    if dockerfile is not None:
        for ins in dockerfile.entry():
            if ins is not None:
                names.add(_executable(ins.argv()))
        for stage in dockerfile.stages:
            for run in stage.all("RUN"):
                for match in _GO_BUILD_OUT.finditer(run.text):
                    words = match["rest"].split()
                    names |= {_base(words[i + 1]) for i, w in enumerate(words[:-1]) if w == "-o"}
        for copy in dockerfile.final.all("COPY"):
            names |= {_base(w) for w in copy.words() if not w.startswith("--")}
    return names - {""}


def _runs_other(
    launch: Launch,
    program: GoProgram,
    dockerfile: Dockerfile | None,
    scripts: Mapping[str, Script],
) -> bool:
    """True when the launch's own command runs something that is not ``program`` (a
    CronJob running ``/bin/sh /scripts/backup.sh`` from the server's image)."""
    if not launch.argv or not explicit_command(launch):
        return False
    exe = _executable(launch.argv, scripts)
    return bool(exe) and exe not in _names_of(program, dockerfile)


def _link_one(
    launch: Launch,
    programs: Sequence[GoProgram],
    by_dir: Mapping[str, GoProgram],
    by_path: Mapping[str, LinkedDockerfile],
    by_image: Mapping[str, LinkedDockerfile],
    pairs: Mapping[str, str],
    scripts: Mapping[str, Script],
) -> LinkedLaunch:
    for name in sorted(launch.names):
        if name in pairs:
            program = by_dir.get(pairs[name].strip("./") or ".") or by_dir.get(pairs[name])
            if program is not None:
                return LinkedLaunch(launch, program, None, f"pairs: {name} → {program.dir}")
    dockerfile = by_path.get(launch.build[1]) if launch.build else None
    built = dockerfile.dockerfile if dockerfile else None
    exe = _executable(launch.argv, scripts)
    if (program := _unique(programs, exe)) is not None:
        return LinkedLaunch(launch, program, built, f"command {exe}")
    candidate: tuple[GoProgram | None, Dockerfile | None, str] = (None, built, "")
    if launch.build is not None and launch.build[0] in by_dir:
        candidate = (by_dir[launch.build[0]], built, f"build context {launch.build[0]}")
    elif dockerfile is not None and dockerfile.program is not None:
        candidate = (dockerfile.program, built, f"build {dockerfile.dockerfile.path}")
    elif launch.image:
        name = image_name(launch.image)
        df = by_image.get(name)
        image_df = df.dockerfile if df else None
        if (program := _unique(programs, name)) is not None:
            candidate = (program, image_df, f"image {name}")
        elif df is not None:
            candidate = (df.program, image_df, f"image {name}")
    program, df_used, how = candidate
    if program is not None and _runs_other(launch, program, df_used, scripts):
        return LinkedLaunch(launch, None, df_used)  # the image's, running something else
    return LinkedLaunch(launch, program, df_used, how)
