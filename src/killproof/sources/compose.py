"""docker-compose files: services with what bounds and stops them, lines kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from killproof.sources.yamltree import Pos, YamlError, YMap, dig, dig_pos, load_documents


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


def parse_compose(text: str, path: str) -> ComposeFile:
    """Parse a compose file; raises ``YamlError`` when it is not valid YAML or has no services."""
    docs = load_documents(text, path)
    if not docs or not isinstance(docs[0], YMap):
        raise YamlError("not a compose file (no top-level mapping)", 1)
    services = docs[0].get("services")
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


def is_compose_name(name: str) -> bool:
    """``compose.yaml``, ``docker-compose.yml``, ``docker-compose.prod.yaml`` …"""
    lower = name.lower()
    return lower.endswith((".yml", ".yaml")) and (
        lower.startswith(("docker-compose", "compose.")) or lower in ("compose.yml", "compose.yaml")
    )
