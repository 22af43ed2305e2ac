"""docker-compose files: services with what bounds and stops them, lines kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from killproof.sources.deploy.yamltree import (
    Pos,
    YamlError,
    YMap,
    clone,
    dig,
    dig_pos,
    load_documents,
)


@dataclass(frozen=True)
class ComposeService:
    """One service of a compose file."""

    name: str
    body: YMap
    at: Pos
    """The line of the service's key under ``services:``."""

    def env(self) -> dict[str, tuple[str | None, Pos]]:
        """``environment`` (list or mapping form): name → (value or None, line)."""
        value = self.body.get("environment")
        out: dict[str, tuple[str | None, Pos]] = {}
        if isinstance(value, YMap):
            for k, v in value.items():
                out[k] = (None if v is None else str(v), value.pos(k))
        elif isinstance(value, list):
            for item, at in zip(value, getattr(value, "item_at", []), strict=False):
                name, eq, val = str(item).partition("=")
                out[name] = (val if eq else None, at)
        return out

    def memory_limit(self) -> tuple[Any, Pos] | None:
        """``mem_limit`` or ``deploy.resources.limits.memory`` with its line."""
        if self.body.get("mem_limit") is not None:
            return self.body["mem_limit"], self.body.pos("mem_limit")
        value = dig(self.body, "deploy", "resources", "limits", "memory")
        if value is not None:
            return value, dig_pos(self.body, "deploy", "resources", "limits", "memory")
        return None

    def cpu_limit(self) -> tuple[Any, Pos] | None:
        """``cpus`` or ``deploy.resources.limits.cpus`` with its line."""
        if self.body.get("cpus") is not None:
            return self.body["cpus"], self.body.pos("cpus")
        value = dig(self.body, "deploy", "resources", "limits", "cpus")
        if value is not None:
            return value, dig_pos(self.body, "deploy", "resources", "limits", "cpus")
        return None

    def build_context(self) -> tuple[str, str] | None:
        """(context dir, dockerfile name) of ``build:`` (string or mapping form)."""
        build = self.body.get("build")
        if isinstance(build, str):
            return build, "Dockerfile"
        if isinstance(build, dict):
            return str(build.get("context", ".")), str(build.get("dockerfile", "Dockerfile"))
        return None

    def argv(self, key: str) -> list[str] | None:
        """``command``/``entrypoint`` as a list (a string is run by the image's shell form)."""
        value = self.body.get(key)
        if isinstance(value, list):
            return [str(v) for v in value]
        if isinstance(value, str):
            import shlex

            try:
                return shlex.split(value)
            except ValueError:
                return value.split()
        return None


@dataclass(frozen=True)
class ComposeFile:
    """A compose file's services."""

    path: str
    services: tuple[ComposeService, ...]
    merged: tuple[str, ...] = ()
    """Files merged over this one (``docker compose -f path -f merged…``)."""


def parse_compose(text: str, path: str) -> ComposeFile:
    """Parse a compose file; raises ``YamlError`` when it is not valid YAML or has no services."""
    docs = load_documents(text, path)
    if all(doc is None for doc in docs):
        return ComposeFile(path, ())  # empty, or only comments: a seam left for overrides
    if not isinstance(docs[0], YMap):
        raise YamlError("not a compose file (no top-level mapping)", 1)
    services = docs[0].get("services")
    if services is None and all(_top_level(str(k)) for k in docs[0]):
        return ComposeFile(path, ())  # only networks, volumes, include …: no service here
    if not isinstance(services, YMap):
        raise YamlError("not a compose file (no 'services:' mapping)", docs[0].at.line)
    return ComposeFile(
        path,
        tuple(
            ComposeService(name, body, services.pos(name))
            for name, body in services.items()
            if isinstance(body, YMap)
        ),
    )


_TOP_LEVEL = frozenset(
    {"version", "name", "include", "networks", "volumes", "configs", "secrets", "models"}
)


def _top_level(key: str) -> bool:
    """A compose top-level key other than ``services`` (extensions ``x-…`` included)."""
    return key in _TOP_LEVEL or key.startswith("x-")


def is_compose_name(name: str) -> bool:
    """``compose.yaml``, ``docker-compose.yml``, ``docker-compose.prod.yaml`` …"""
    lower = name.lower()
    return lower.endswith((".yml", ".yaml")) and (
        lower.startswith(("docker-compose", "compose.")) or lower in ("compose.yml", "compose.yaml")
    )


# --- one project from several files -----------------------------------------------------

_BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def _runnable(body: YMap) -> bool:
    """A service compose can start on its own: it names an image, a build or a parent."""
    return any(body.get(key) is not None for key in ("image", "build", "extends"))


def _env_map(value: Any, fallback: Pos) -> YMap:
    """``environment`` in either form as a mapping (name → value or None), lines kept."""
    out = YMap(getattr(value, "at", fallback))
    if isinstance(value, YMap):
        for key, item in value.items():
            out.put(key, item, value.pos(key))
    elif isinstance(value, list):
        for item, at in zip(value, getattr(value, "item_at", []), strict=False):
            name, eq, val = str(item).partition("=")
            out.put(name, val if eq else None, at)
    return out


def merge_service(base: YMap, override: YMap) -> YMap:
    """``docker compose -f base -f override`` for one service: mappings merge key by key,
    ``environment`` merges by variable, anything else in the override replaces."""
    out: YMap = clone(base)
    for key, value in override.items():
        at = override.pos(key)
        current = out.get(key)
        if key == "environment":
            merged = _env_map(current, out.pos(key))
            extra = _env_map(value, at)
            for name, item in extra.items():
                merged.put(name, item, extra.pos(name))
            out.put(key, merged, out.key_at.get(key, at))
        elif isinstance(value, YMap) and isinstance(current, YMap):
            out.put(key, merge_service(current, value), out.pos(key))
        else:
            out.put(key, clone(value), at)
    return out


def _merge_into(project: ComposeFile, other: ComposeFile) -> ComposeFile:
    services = {s.name: s for s in project.services}
    for svc in other.services:
        prior = services.get(svc.name)
        if prior is None:
            services[svc.name] = svc
        else:
            services[svc.name] = ComposeService(
                svc.name, merge_service(prior.body, svc.body), prior.at
            )
    return ComposeFile(project.path, tuple(services.values()), (*project.merged, other.path))


def merge_projects(files: list[ComposeFile]) -> tuple[list[ComposeFile], list[tuple[str, str]]]:
    """Group the compose files of each directory into projects, merged as
    ``docker compose -f a -f b`` merges them: ``compose.yaml`` (or ``docker-compose.yml``)
    with every other compose file beside it (``compose.override.yaml``, ``compose.prod.yaml``
    …); without such a base, a file whose services all live in another file of the
    directory patches that file. Services that still name no image, build or parent are
    patches of something not here and are dropped. Returns the projects and (path, reason)
    for files that were not judged."""
    by_dir: dict[str, list[ComposeFile]] = {}
    for f in files:
        by_dir.setdefault(f.path.rsplit("/", 1)[0] if "/" in f.path else "", []).append(f)
    projects: list[ComposeFile] = []
    notes: list[tuple[str, str]] = []
    for group in by_dir.values():
        names = {f.path.rsplit("/", 1)[-1].lower(): f for f in group}
        base = next((names[n] for n in _BASE_NAMES if n in names), None)
        roots: list[ComposeFile] = [base] if base is not None else []
        patches: list[ComposeFile] = []
        for f in sorted(group, key=lambda f: (".override." not in f.path.lower(), f.path)):
            if f is base:
                continue
            name = f.path.rsplit("/", 1)[-1].lower()
            own = {s.name for s in f.services}
            elsewhere = {
                s.name for g in group if g is not f for s in g.services if _runnable(s.body)
            }
            patch = own <= elsewhere and not any(_runnable(s.body) for s in f.services)
            if base is not None and name.startswith(("compose.", "docker-compose.")):
                roots[0] = _merge_into(roots[0], f)  # compose.prod.yaml over compose.yaml
            elif own and patch:
                patches.append(f)
            else:
                roots.append(f)
        for f in patches:
            own = {s.name for s in f.services}
            for index, root in enumerate(roots):
                if own <= {s.name for s in root.services}:
                    roots[index] = _merge_into(root, f)
                    break
            else:
                roots.append(f)
        for project in roots:
            kept = tuple(s for s in project.services if _runnable(s.body))
            if not kept and project.services:
                notes.append(
                    (
                        project.path,
                        "compose override of services defined in no file beside it: judged only "
                        "merged with its base (docker compose -f base.yaml -f this.yaml)",
                    )
                )
                continue
            projects.append(ComposeFile(project.path, kept, project.merged))
    return projects, notes
