"""``killproof drill PATH``: find the Go main and the workload that runs it, minimally.

The deploy-file checker (``killproof check``) links workloads to programs in depth. Until
the drill is wired to it, this adapter reads what a drill needs from Kubernetes workload
YAML (ruamel.yaml, line numbers kept) and a Dockerfile's ``STOPSIGNAL``, and finds main
packages with tree-sitter-go.

Units: bytes, CPUs, seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_go
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from killproof.drill.quantity import parse_bytes, parse_cpus
from killproof.errors import InputError

_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"}
_SKIP_DIRS = {".git", "vendor", "node_modules", "testdata", ".cache", ".venv"}
DEFAULT_GRACE_S = 30.0


@dataclass(frozen=True)
class Workload:
    """What a drill takes from one container of a Kubernetes workload."""

    path: str
    line: int
    name: str
    container: str
    image: str = ""
    memory_bytes: int | None = None
    cpus: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Literal ``value:`` entries only (valueFrom cannot be resolved offline)."""
    port: int | None = None
    ready_path: str | None = None
    startup_budget_s: float | None = None
    """initialDelaySeconds + failureThreshold × periodSeconds of the startup probe, else
    of the liveness probe: how long startup may take before the kubelet kills it."""
    grace_s: float = DEFAULT_GRACE_S
    prestop_s: float = 0.0
    stop_signal: str | None = None

    def describe(self) -> str:
        """``deploy/deployment.yaml:5 Deployment orders, container orders``."""
        return f"{self.path}:{self.line} {self.name}, container {self.container}"


def _go_parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_go.language()))


def is_main_package(source: bytes, parser: tree_sitter.Parser | None = None) -> bool:
    """True when the Go file declares ``package main`` and a ``func main``."""
    root = (parser or _go_parser()).parse(source).root_node
    package = func_main = False
    for node in root.children:
        if node.type == "package_clause":
            ident = next((c for c in node.children if c.type == "package_identifier"), None)
            package = ident is not None and ident.text == b"main"
        elif node.type == "function_declaration":
            name = node.child_by_field_name("name")
            func_main = func_main or (name is not None and name.text == b"main")
    return package and func_main


def find_main_packages(root: Path) -> list[Path]:
    """Directories under ``root`` holding a Go ``package main`` with ``func main``."""
    parser = _go_parser()
    found: set[Path] = set()
    for path in sorted(root.rglob("*.go")):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS for part in rel.parts) or path.name.endswith("_test.go"):
            continue
        if path.parent not in found and is_main_package(path.read_bytes(), parser):
            found.add(path.parent)
    return sorted(found)


def _num(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) else default


def _budget(probe: Any) -> float | None:
    if not isinstance(probe, Mapping):
        return None
    return _num(probe.get("initialDelaySeconds"), 0) + _num(
        probe.get("failureThreshold"), 3
    ) * _num(probe.get("periodSeconds"), 10)


def _prestop(container: Mapping[str, Any]) -> float:
    hook = (container.get("lifecycle") or {}).get("preStop") or {}
    if isinstance(hook.get("sleep"), Mapping):
        return _num(hook["sleep"].get("seconds"), 0)
    command = (hook.get("exec") or {}).get("command") or []
    words = [str(w) for w in command]
    for i, w in enumerate(words):  # ["sleep", "5"] or ["/bin/sh", "-c", "sleep 5"]
        parts = w.split()
        if parts[:1] == ["sleep"] and len(parts) == 2 and parts[1].isdigit():
            return float(parts[1])
        if w.endswith("sleep") and i + 1 < len(words) and words[i + 1].isdigit():
            return float(words[i + 1])
    return 0.0


def _pod_spec(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        return spec
    return (spec.get("template") or {}).get("spec") or {}


def _container(doc: Mapping[str, Any], c: Mapping[str, Any], path: str, line: int) -> Workload:
    pod = _pod_spec(doc)
    where = f"{path}:{line}"
    limits = (c.get("resources") or {}).get("limits") or {}
    memory = cpus = None
    if limits.get("memory") is not None:
        memory = parse_bytes(str(limits["memory"]), f"{where} limits.memory")
    if limits.get("cpu") is not None:
        cpus = parse_cpus(str(limits["cpu"]))
    env = {
        str(e["name"]): str(e["value"])
        for e in c.get("env") or []
        if isinstance(e, Mapping) and "name" in e and "value" in e
    }
    ports = [p.get("containerPort") for p in c.get("ports") or [] if isinstance(p, Mapping)]
    ready = (c.get("readinessProbe") or {}).get("httpGet") or {}
    stop = ((c.get("lifecycle") or {}).get("stopSignal")) or None
    return Workload(
        path=path,
        line=line,
        name=f"{doc.get('kind')} {(doc.get('metadata') or {}).get('name', '?')}",
        container=str(c.get("name", "?")),
        image=str(c.get("image", "")),
        memory_bytes=memory,
        cpus=cpus,
        env=env,
        port=ports[0] if ports and isinstance(ports[0], int) else None,
        ready_path=str(ready["path"]) if ready.get("path") else None,
        startup_budget_s=_budget(c.get("startupProbe")) or _budget(c.get("livenessProbe")),
        grace_s=_num(pod.get("terminationGracePeriodSeconds"), DEFAULT_GRACE_S),
        prestop_s=_prestop(c),
        stop_signal=str(stop) if stop else None,
    )


def read_workloads(path: Path, root: Path) -> Iterator[Workload]:
    """Every container of every workload in one YAML file; InputError on broken YAML."""
    rel = str(path.relative_to(root))
    try:
        docs = list(YAML(typ="rt").load_all(path.read_text()))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', exc)}", rel, line) from exc
    for doc in docs:
        if not isinstance(doc, Mapping) or doc.get("kind") not in _KINDS:
            continue
        for c in _pod_spec(doc).get("containers") or []:
            if isinstance(c, Mapping):
                line = c.lc.line + 1 if hasattr(c, "lc") else 0
                try:
                    yield _container(doc, c, rel, line)
                except InputError as exc:
                    raise InputError(exc.message, rel, line) from exc


def find_workloads(root: Path) -> list[Workload]:
    """Every workload container in the YAML files under ``root``."""
    out: list[Workload] = []
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        if any(part in _SKIP_DIRS for part in path.relative_to(root).parts):
            continue
        out.extend(read_workloads(path, root))
    return out


def dockerfile_stop_signal(root: Path) -> str | None:
    """The ``STOPSIGNAL`` of ``root/Dockerfile`` (last one wins), if any."""
    path = root / "Dockerfile"
    if not path.is_file():
        return None
    signal = None
    for line in path.read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) == 2 and words[0].upper() == "STOPSIGNAL":
            signal = words[1]
    return signal


@dataclass(frozen=True)
class PathPlan:
    """What ``drill PATH`` will build and with what settings."""

    main_dir: Path
    workload: Workload | None
    stop_signal: str | None
    notes: tuple[str, ...] = ()


def plan_path(root: Path) -> PathPlan:
    """Pick the main package and its workload under ``root``; InputError when ambiguous."""
    if not root.is_dir():
        raise InputError("not a directory", str(root))
    mains = find_main_packages(root)
    if not mains:
        raise InputError("no Go main package found (package main with func main)", str(root))
    workloads = find_workloads(root)
    notes: list[str] = []
    if len(mains) == 1:
        main = mains[0]
    else:
        names = {w.container for w in workloads}
        names |= {w.image.split("/")[-1].split(":")[0] for w in workloads}
        matching = [m for m in mains if m.name in names]
        if len(matching) != 1:
            listed = ", ".join(str(m.relative_to(root)) for m in mains)
            raise InputError(f"several Go main packages ({listed}); drill one directory", str(root))
        main = matching[0]
    workload = None
    if workloads:
        by_name = [w for w in workloads if w.container == main.name or main.name in w.image]
        workload = (by_name or workloads)[0]
        if len(workloads) > 1:
            notes.append(f"several workloads; using {workload.describe()}")
    else:
        notes.append("no Kubernetes workload found: default limits and probes")
    return PathPlan(main, workload, dockerfile_stop_signal(main), tuple(notes))
