"""Reading the deploy files the repo walk found: classify, build kustomizations, parse.

Every file is read once (texts are kept for the suppression scanner); a file that cannot be
used becomes a :class:`~killproof.model.Skipped` entry with its file:line, never an error.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from killproof.check.graft import patch_line, place
from killproof.check.scope import header_says_tests
from killproof.errors import ReadRefused
from killproof.model import Severity, Skipped
from killproof.sources.deploy.compose import (
    ComposeFile,
    is_compose_name,
    merge_projects,
    parse_compose,
)
from killproof.sources.deploy.dockerfile import (
    Dockerfile,
    DockerfileError,
    is_dockerfile_name,
    parse_dockerfile,
)
from killproof.sources.deploy.entrypoint import Script, analyze_script, is_script_name
from killproof.sources.deploy.kustomize import (
    KUSTOMIZATION_NAMES,
    KustomizeBuild,
    KustomizeError,
    KustomizeUnsupported,
    build,
    patch_files,
)
from killproof.sources.deploy.manifests import (
    K8sObject,
    looks_like_manifest,
    objects_from_docs,
    parse_manifests,
)
from killproof.sources.deploy.systemd_unit import (
    SystemdUnit,
    UnitError,
    parse_unit,
    parse_unit_text,
)
from killproof.sources.deploy.yamltree import YamlError, load_documents

KUSTOMIZE_TIMEOUT_S = 60.0
"""How long a `kustomize build` may run (seconds)."""
DEPLOY_FILE_MAX_BYTES = 8 << 20
"""Deploy files (YAML, JSON, Dockerfiles, units, scripts) larger than this (bytes) are
skipped with a reason. The largest install bundles in wide use, CRDs included, are a few
MiB; reading one costs about 50 bytes of memory per byte of YAML."""


_OUTSIDE = "outside the checked tree (through a link or '..'): not read"


@dataclass
class DeployFiles:
    """What the deploy files hold, plus their texts and what could not be read."""

    objects: list[K8sObject] = field(default_factory=list)
    dockerfiles: list[Dockerfile] = field(default_factory=list)
    composes: list[ComposeFile] = field(default_factory=list)
    units: list[SystemdUnit] = field(default_factory=list)
    scripts: dict[str, Script] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    checked: int = 0
    left_out: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of files whose header says they are for tests."""


def read_deploy_files(
    root: Path, files: list[Path] | tuple[Path, ...], skip_test_headers: bool = False
) -> DeployFiles:
    """Classify and parse ``files`` (paths under ``root``); kustomizations are built.
    With ``skip_test_headers``, manifests, compose files and Dockerfiles whose leading
    comment says they are for tests are left out (and listed in ``left_out``)."""
    reader = _Reader(root, skip_test_headers)
    kinds = _classify(reader, files)
    binary: list[tuple[str, str, list[K8sObject]]] = []
    k_objects, consumed = _kustomize(reader, kinds["kustomize"], kinds["yaml"], binary)
    parsed = _parse_all(reader, kinds, consumed)
    if binary:
        _place_binary_builds(reader, binary, [*k_objects, *parsed["objects"]], kinds["yaml"])
    composes, unmerged = merge_projects(parsed["composes"])
    for path, reason in unmerged:
        reader.skip(path, 0, reason, by_design=True)
    return DeployFiles(
        objects=k_objects + parsed["objects"],
        dockerfiles=parsed["dockerfiles"],
        composes=composes,
        units=parsed["units"],
        scripts=parsed["scripts"],
        texts=reader.texts,
        skipped=reader.skipped,
        left_out=reader.left_out,
        checked=parsed["checked"] + len({o.at.path for o in k_objects}),
    )


class _Reader:
    """Reads the walked files once, remembering texts (for suppressions) and problems."""

    def __init__(self, root: Path, skip_test_headers: bool = False) -> None:
        self.root = root
        self.skip_test_headers = skip_test_headers
        self.left_out: list[tuple[str, str]] = []
        self.resolved = root.resolve()
        self.prefix = str(self.resolved).rstrip(os.sep) + os.sep
        self.texts: dict[str, str] = {}
        self.skipped: list[Skipped] = []

    def rel(self, path: Path) -> str:
        text = str(path)
        if text.startswith(self.prefix):  # the walk hands absolute paths under the root
            return text[len(self.prefix) :].replace(os.sep, "/")
        try:
            return path.resolve().relative_to(self.resolved).as_posix()
        except ValueError:
            return path.as_posix()

    def read(self, rel: str) -> str:
        """The text of a file under the root (raises OSError: not UTF-8, too large, not a
        regular file, or outside the checked tree through a link or a ``..`` path)."""
        if rel not in self.texts:
            data = self._bytes(rel)
            try:
                self.texts[rel] = data.decode("utf-8")
            except UnicodeDecodeError as exc:  # callers handle OSError for every file kind
                raise OSError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        return self.texts[rel]

    def _bytes(self, rel: str) -> bytes:
        path = self._checked(rel)
        # O_NONBLOCK: a FIFO named like a manifest must not block the run.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ReadRefused("not a regular file: not read")
            data = f.read(DEPLOY_FILE_MAX_BYTES + 1)
        if len(data) > DEPLOY_FILE_MAX_BYTES:
            raise ReadRefused(f"larger than {DEPLOY_FILE_MAX_BYTES >> 20} MiB: not read")
        return data

    def _checked(self, rel: str) -> str:
        """The real path of ``rel``, refused (:class:`ReadRefused`) unless it lies inside
        the checked tree and is a regular file — decided before anything is opened for
        reading, so a link to a device (``/dev/watchdog``) is never opened. An ``O_PATH``
        descriptor names what the path leads to in one call (``/proc/self/fd``) instead of
        an ``lstat`` per component; without /proc, the path is resolved."""
        try:
            fd = os.open(self.root / rel, os.O_PATH | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ReadRefused(_OUTSIDE) from exc
            raise
        try:
            try:
                real = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                try:
                    real = str((self.root / rel).resolve())
                except RuntimeError as exc:  # a symlink loop (Python 3.11)
                    raise ReadRefused(_OUTSIDE) from exc
            if not real.startswith(self.prefix):
                raise ReadRefused(_OUTSIDE)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ReadRefused("not a regular file: not read")
        finally:
            os.close(fd)
        return real

    def exists(self, rel: str) -> bool:
        # True for a path outside the tree too: reading it then says why it is refused.
        return (self.root / rel).exists()

    def for_tests(self, rel: str, text: str) -> bool:
        """True (and noted) when the file's header says it is for tests."""
        if self.skip_test_headers and header_says_tests(text):
            self.left_out.append((rel, "header says it is for tests"))
            return True
        return False

    def skip(self, rel: str, line: int, reason: str, by_design: bool = False) -> None:
        """Note a file not read: a parse or I/O failure (a KP001 finding) unless
        ``by_design`` (a Helm template, an override of nothing here)."""
        what = f"{rel}:{line}" if line else rel
        # A bound of ours (too large, nested too deep, a link out of the tree) says
        # ": not read" (see ReadRefused): declined on purpose, not the file's fault.
        failure = None if by_design or reason.endswith(": not read") else Severity.ERROR
        self.skipped.append(Skipped(what, reason, rel, line, failure))


def _classify(reader: _Reader, files: list[Path] | tuple[Path, ...]) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {
        k: [] for k in ("kustomize", "docker", "compose", "unit", "dropin", "script", "yaml")
    }
    for path in files:
        rel = reader.rel(path)
        name = posixpath.basename(rel)
        parent = posixpath.basename(posixpath.dirname(rel))
        if name == ".killproof.yaml":
            continue
        if name in KUSTOMIZATION_NAMES:
            kinds["kustomize"].append(posixpath.dirname(rel) or ".")
        elif is_dockerfile_name(name):
            kinds["docker"].append(rel)
        elif is_compose_name(name):
            kinds["compose"].append(rel)
        elif name.endswith(".service"):
            kinds["unit"].append(rel)
        elif name.endswith(".conf") and parent.endswith(".service.d"):
            kinds["dropin"].append(rel)
        elif name.endswith((".yaml", ".yml", ".json")):
            kinds["yaml"].append(rel)
        elif is_script_name(name):
            kinds["script"].append(rel)
    return kinds


def _kustomize(
    reader: _Reader,
    dirs: list[str],
    yaml_files: list[str],
    binary: list[tuple[str, str, list[K8sObject]]],
) -> tuple[list[K8sObject], set[str]]:
    """Build top-level kustomizations (those no other one uses); return objects, consumed
    files. Builds the kustomize binary made are added to ``binary`` as (directory,
    kustomization file, objects): their objects have no lines yet."""
    builds: dict[str, KustomizeBuild | None] = {}
    consumed: set[str] = set()
    used_dirs: set[str] = set()
    objects: list[K8sObject] = []
    for d in sorted(dirs):
        try:
            result = build(d, reader.read, reader.exists)
        except KustomizeUnsupported as exc:
            builds[d] = None
            from_binary = _kustomize_binary(reader, d, exc)
            binary.append((d, exc.path, from_binary))
            objects += from_binary
            # The binary does not say what it read: the files under the directory are its.
            consumed |= _under(d, yaml_files)
            continue
        except KustomizeError as exc:
            builds[d] = None
            reader.skip(exc.path, exc.line, f"kustomize: {exc.message}")
            consumed |= patch_files(d, reader.read, reader.exists)
            continue
        builds[d] = result
        consumed |= result.consumed
        used_dirs |= result.subdirs
        if result.component:  # its patches are partial objects, not manifests to check
            consumed |= _under(d, yaml_files)
    for d, built in builds.items():
        if built is not None and d not in used_dirs:
            objects += built.objects
        consumed |= {posixpath.join(d, n) if d != "." else n for n in KUSTOMIZATION_NAMES}
    return objects, consumed


def _place_binary_builds(
    reader: _Reader,
    binary: list[tuple[str, str, list[K8sObject]]],
    known: list[K8sObject],
    yaml_files: list[str],
) -> None:
    """Give binary-built objects the lines of the objects they were built from (the files
    under the build's directory, other builds, plain manifests): see check/graft.py."""
    sources = [o for o in known if o.at.line > 0]
    for d, _, _ in binary:
        for rel in sorted(_under(d, yaml_files)):
            try:
                text = reader.read(rel)
                if looks_like_manifest(text):
                    sources += parse_manifests(text, rel)
            except (OSError, YamlError):
                continue
    for _, kustomization, built in binary:
        try:
            docs = load_documents(reader.read(kustomization), kustomization)
        except (OSError, YamlError):
            docs = []
        place(built, sources, kustomization, patch_line(docs[0] if docs else None))


def _under(d: str, files: list[str]) -> set[str]:
    """The files below directory ``d`` (root-relative; ``.`` is the root)."""
    return {f for f in files if d == "." or f.startswith(d + "/")}


def _kustomize_binary(reader: _Reader, d: str, why: KustomizeError) -> list[K8sObject]:
    kustomize, kubectl = shutil.which("kustomize"), shutil.which("kubectl")
    if kustomize is None and kubectl is None:
        reader.skip(
            why.path,
            why.line,
            f"kustomize: {why.message}, and no kustomize/kubectl binary to build it; read "
            f"it with `kustomize build {d} | killproof check -`",
            by_design=True,
        )
        return []
    # The directory name comes from the checked tree: always a path, never an option
    # (a directory named `--output=..` would make the binary write outside the tree).
    target = d if d == "." else f"./{d}"
    argv = [kustomize, "build", "--", target] if kustomize else [kubectl, "kustomize", "--", target]
    try:
        done = subprocess.run(
            [a for a in argv if a],
            cwd=reader.root,
            capture_output=True,
            text=True,
            timeout=KUSTOMIZE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        reader.skip(why.path, why.line, f"kustomize build failed: {exc}")
        return []
    if done.returncode != 0:
        reader.skip(
            why.path, why.line, f"kustomize build failed: {done.stderr.strip().splitlines()[-1:]}"
        )
        return []
    # Built output has no lines in any file: findings name the kustomization, line unknown.
    try:
        return objects_from_docs(load_documents(done.stdout, why.path, keep_lines=False), d)
    except YamlError as exc:
        reader.skip(why.path, exc.line, f"kustomize output: {exc.message}")
        return []


def _good_dropins(reader: _Reader, paths: list[str]) -> list[tuple[str, str]]:
    """(text, path) of the drop-ins that parse; a bad one is skipped at its own file:line
    and the unit is read without it (it is not the unit's fault)."""
    out: list[tuple[str, str]] = []
    for d in paths:
        try:
            text = reader.read(d)
            parse_unit_text(text, d)
        except UnitError as exc:
            reader.skip(d, exc.line, f"{exc.message} (drop-in not applied)")
            continue
        except OSError as exc:
            reader.skip(d, 0, f"unreadable: {exc} (drop-in not applied)")
            continue
        out.append((text, d))
    return out


def _parse_all(reader: _Reader, kinds: dict[str, list[str]], consumed: set[str]) -> dict[str, Any]:
    objects: list[K8sObject] = []
    dockerfiles: list[Dockerfile] = []
    composes: list[ComposeFile] = []
    units: list[SystemdUnit] = []
    scripts: dict[str, Script] = {}
    checked = 0
    for rel in kinds["yaml"]:
        if rel in consumed:
            continue
        try:
            text = reader.read(rel)
        except (OSError, UnicodeDecodeError) as exc:
            reader.skip(rel, 0, f"unreadable: {exc}")
            continue
        if not looks_like_manifest(text) or reader.for_tests(rel, text):
            continue
        if "{{" in text and "/templates/" in f"/{rel}":
            chart = rel.rsplit("/templates/", 1)[0] if "/templates/" in rel else "."
            if rel.startswith("templates/"):
                chart = "."
            reader.skip(
                rel,
                0,
                f"Helm template of chart {chart}: read the chart with "
                f"`helm template {chart} | killproof check -`",
                by_design=True,
            )
            continue
        try:
            objects += parse_manifests(text, rel)
            checked += 1
        except YamlError as exc:
            reader.skip(rel, exc.line, exc.message)
    for rel in kinds["docker"]:
        try:
            if reader.for_tests(rel, reader.read(rel)):
                continue
            dockerfiles.append(parse_dockerfile(reader.read(rel), rel))
            checked += 1
        except DockerfileError as exc:
            reader.skip(rel, exc.line, exc.message)
        except (OSError, UnicodeDecodeError) as exc:
            reader.skip(rel, 0, f"unreadable: {exc}")
    for rel in kinds["compose"]:
        try:
            if reader.for_tests(rel, reader.read(rel)):
                continue
            composes.append(parse_compose(reader.read(rel), rel))
            checked += 1
        except YamlError as exc:
            reader.skip(rel, exc.line, exc.message)
        except (OSError, UnicodeDecodeError) as exc:
            reader.skip(rel, 0, f"unreadable: {exc}")
    dropins_of: dict[str, list[str]] = {}
    for d in kinds["dropin"]:
        dropins_of.setdefault(posixpath.dirname(d), []).append(d)
    for rel in kinds["unit"]:
        dropins = _good_dropins(reader, sorted(dropins_of.get(f"{rel}.d", [])))
        try:
            units.append(parse_unit(reader.read(rel), rel, dropins))
            checked += 1
        except UnitError as exc:
            reader.skip(rel, exc.line, exc.message)
        except (OSError, UnicodeDecodeError) as exc:
            reader.skip(rel, 0, f"unreadable: {exc}")
    for rel in kinds["script"]:
        try:
            text = reader.read(rel)
        except (OSError, UnicodeDecodeError):
            continue
        if text.startswith("#!") or rel.endswith(".sh"):
            scripts[rel] = analyze_script(text, rel)
    return {
        "objects": objects, "dockerfiles": dockerfiles, "composes": composes,
        "units": units, "scripts": scripts, "checked": checked,
    }  # fmt: skip
