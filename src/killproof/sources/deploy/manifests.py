"""Kubernetes objects from YAML/JSON, with every container of every workload walked once.

Reads multi-document streams, ``List`` objects, all workload kinds (Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, and the Argo
Rollout and OpenShift DeploymentConfig that share the pod template shape), their init,
native sidecar (``initContainers`` with ``restartPolicy: Always``) and app containers, plus
Services, HPAs, PDBs, ConfigMaps and LimitRanges. Rules iterate :meth:`ManifestSet.containers`
and never walk the object tree themselves.
"""

from __future__ import annotations

import enum
import itertools
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from killproof.sources.deploy.quantity import QuantityError, parse_duration_s
from killproof.sources.deploy.yamltree import Pos, YMap, dig, iter_maps, load_documents

ANNOTATION_IGNORE = "killproof.dev/ignore"
T = TypeVar("T")

# kind → path from the object root to the pod template (spec + metadata)
_TEMPLATE_PATH: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    # Same pod template shape, from controllers SREs meet next to Deployments.
    "Rollout": ("spec", "template"),  # Argo Rollouts
    "DeploymentConfig": ("spec", "template"),  # OpenShift
}
_REPLICATED = {
    "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Rollout", "DeploymentConfig",
}  # fmt: skip


class ContainerRole(enum.Enum):
    """Where a container sits in the pod."""

    APP = "container"
    INIT = "initContainer"
    SIDECAR = "sidecar"
    """A native sidecar: an init container with ``restartPolicy: Always`` (runs all along)."""


@dataclass(frozen=True)
class K8sObject:
    """One Kubernetes object; ``body`` is the whole document, ``origin`` names the build
    (a kustomize overlay directory, or empty for a plain file)."""

    kind: str
    name: str
    namespace: str
    body: YMap
    origin: str = ""

    @property
    def at(self) -> Pos:
        """Where the object starts."""
        return self.body.at

    @property
    def ref(self) -> str:
        """``Kind/name`` (with the overlay when built from one)."""
        return (
            f"{self.origin}: {self.kind}/{self.name}" if self.origin else f"{self.kind}/{self.name}"
        )

    @property
    def annotations(self) -> dict[str, Any]:
        """metadata.annotations (empty when absent or malformed)."""
        value = dig(self.body, "metadata", "annotations")
        return value if isinstance(value, dict) else {}

    @property
    def ignored_rules(self) -> frozenset[str]:
        """Rule ids named by the ``killproof.dev/ignore`` annotation."""
        value = self.annotations.get(ANNOTATION_IGNORE)
        if not isinstance(value, str):
            return frozenset()
        return frozenset(p.strip().upper() for p in value.split(",") if p.strip())


@dataclass(frozen=True)
class Workload:
    """An object that runs pods: its pod spec, pod labels and replica count."""

    obj: K8sObject
    template: YMap
    pod_spec: YMap
    replicas: int | None
    """``spec.replicas`` (1 when absent on a replicated kind; None for DaemonSet/Job/Pod)."""

    @property
    def kind(self) -> str:
        """The object kind."""
        return self.obj.kind

    @property
    def pod_labels(self) -> dict[str, Any]:
        """The labels the pods get (the template's, or the Pod's own)."""
        labels = dig(self.template, "metadata", "labels")
        return labels if isinstance(labels, dict) else {}

    @property
    def long_running(self) -> bool:
        """True for workloads whose pods are meant to run until stopped (not Job/CronJob)."""
        if self.kind in ("Job", "CronJob"):
            return False
        if self.kind == "Pod":
            return bool(self.pod_spec.get("restartPolicy", "Always") == "Always")
        return True

    @property
    def grace_s(self) -> float:
        """terminationGracePeriodSeconds (Kubernetes default 30 s)."""
        value = self.pod_spec.get("terminationGracePeriodSeconds")
        return (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 30.0
        )


@dataclass(frozen=True)
class Container:
    """One container of a workload."""

    workload: Workload
    spec: YMap
    role: ContainerRole

    @property
    def name(self) -> str:
        """The container name."""
        return str(self.spec.get("name", ""))

    @property
    def at(self) -> Pos:
        """The line of ``name:`` (where the container starts)."""
        return self.spec.pos("name")

    @property
    def subject(self) -> str:
        """``Kind/name container c`` for messages and locations."""
        return f"{self.workload.obj.ref} container {self.name}"

    def resource(self, section: str, name: str) -> Any:
        """``resources.<section>.<name>`` (``limits``/``requests``, ``memory``/``cpu``)."""
        return dig(self.spec, "resources", section, name)

    def probe(self, kind: str) -> YMap | None:
        """``livenessProbe``/``readinessProbe``/``startupProbe`` when present."""
        value = self.spec.get(f"{kind}Probe")
        return value if isinstance(value, YMap) else None

    @property
    def ports(self) -> list[YMap]:
        """The declared container ports."""
        return list(iter_maps(self.spec.get("ports")))

    def argv(self) -> list[str]:
        """``command`` + ``args`` as strings (empty when the image's defaults are used; an
        item that is not a scalar reads as its position, never as its expanded text)."""
        out: list[str] = []
        for key in ("command", "args"):
            value = self.spec.get(key)
            if isinstance(value, list):
                out += [str(v) for v in value]
        return out


@dataclass(frozen=True)
class ManifestSet:
    """All objects read in one run, with the lookups rules need across objects."""

    objects: tuple[K8sObject, ...] = ()
    workloads: tuple[Workload, ...] = field(default=())
    by_kind: Mapping[str, tuple[K8sObject, ...]] = field(default_factory=dict)
    """Objects grouped by kind, so cross-object lookups do not rescan everything."""

    @classmethod
    def of(cls, objects: Iterable[K8sObject]) -> ManifestSet:
        """Index ``objects`` (workloads found once here)."""
        objs = tuple(objects)
        groups: dict[str, list[K8sObject]] = {}
        for o in objs:
            groups.setdefault(o.kind, []).append(o)
        return cls(
            objs,
            tuple(w for o in objs if (w := _workload(o)) is not None),
            {k: tuple(v) for k, v in groups.items()},
        )

    def of_kind(self, *kinds: str) -> Iterator[K8sObject]:
        """Objects of the given kinds."""
        return (o for kind in kinds for o in self.by_kind.get(kind, ()))

    def containers(self) -> Iterator[Container]:
        """Every container of every workload, init and sidecar containers included."""
        return iter(self._containers)

    @cached_property
    def _containers(self) -> tuple[Container, ...]:
        """Found once: every container rule walks them all."""
        out: list[Container] = []
        for w in self.workloads:
            for c in iter_maps(w.pod_spec.get("initContainers")):
                role = (
                    ContainerRole.SIDECAR
                    if c.get("restartPolicy") == "Always"
                    else ContainerRole.INIT
                )
                out.append(Container(w, c, role))
            out += (
                Container(w, c, ContainerRole.APP) for c in iter_maps(w.pod_spec.get("containers"))
            )
        return tuple(out)

    def services_for(self, w: Workload) -> list[K8sObject]:
        """Services in the workload's namespace whose selector matches its pod labels, from
        its own tree (see :func:`nearest`)."""
        labels = w.pod_labels
        scope = (w.obj.namespace, w.obj.origin)
        candidates: dict[int, K8sObject] = {}
        for pair in labels.items():
            for svc in self._services_by_label.get((*scope, str(pair[0]), str(pair[1])), ()):
                candidates[id(svc)] = svc
        matching = [
            svc
            for svc in candidates.values()
            if _matches(dig(svc.body, "spec", "selector"), labels)
        ]
        return nearest(w.obj, matching, lambda svc: svc)

    @cached_property
    def _services_by_label(self) -> dict[tuple[str, str, str, str], list[K8sObject]]:
        """Services by (namespace, origin, label, value) of each selector entry."""
        index: dict[tuple[str, str, str, str], list[K8sObject]] = {}
        for svc in self.of_kind("Service"):
            selector = dig(svc.body, "spec", "selector")
            if isinstance(selector, dict):
                for key, value in selector.items():
                    index.setdefault((svc.namespace, svc.origin, str(key), str(value)), []).append(
                        svc
                    )
        return index

    def serving(self, c: Container) -> bool:
        """A long-running app container that takes traffic: it declares a port, or it is the
        only app container of a pod a Service selects. A bare Pod takes traffic only through
        a Service; a load generator (``loadgen``, ``load-generator``, locust, k6 …) sends
        traffic and serves none, whatever ports and Services it has for its metrics."""
        if c.role is not ContainerRole.APP or not c.workload.long_running:
            return False
        if load_generator(c):
            return False
        if c.workload.kind == "Pod" and not self.services_for(c.workload):
            return False
        if c.ports:
            return True
        apps = list(iter_maps(c.workload.pod_spec.get("containers")))
        return len(apps) == 1 and bool(self.services_for(c.workload))

    def routed(self, c: Container) -> bool:
        """A serving container (see :meth:`serving`) that a Service routes to: a Service of
        its own tree selects its pod. Readiness only gates the endpoints of a Service; a pod
        nobody selects (an exporter Prometheus scrapes by pod annotation) gets no traffic
        that a readiness probe could hold back."""
        return self.serving(c) and bool(self.services_for(c.workload))

    # Cross-object lookups go through indexes built once on first use: a rule asks once
    # per workload or container, and scanning every object each time is quadratic.

    def containers_of(self, w: Workload) -> tuple[Container, ...]:
        """The containers of one workload (init and sidecar containers included)."""
        return self._containers_by_workload.get(id(w), ())

    @cached_property
    def _containers_by_workload(self) -> dict[int, tuple[Container, ...]]:
        groups: dict[int, list[Container]] = {}
        for c in self._containers:
            groups.setdefault(id(c.workload), []).append(c)
        return {k: tuple(v) for k, v in groups.items()}

    def hpa_for(self, w: Workload) -> K8sObject | None:
        """The HPA whose scaleTargetRef names this workload (the nearest, from its own tree)."""
        near = self.hpas_for(w)
        return near[0] if near else None

    def hpas_for(self, w: Workload) -> list[K8sObject]:
        """Every HPA whose scaleTargetRef names this workload, from its own tree (the
        nearest directory of plain files, or its kustomize build)."""
        found = self._hpas.get((w.obj.namespace, w.obj.origin, w.kind, w.obj.name), [])
        return nearest(w.obj, found, lambda hpa: hpa)

    @cached_property
    def _hpas(self) -> dict[tuple[str, str, Any, Any], list[K8sObject]]:
        index: dict[tuple[str, str, Any, Any], list[K8sObject]] = {}
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            ref = dig(hpa.body, "spec", "scaleTargetRef")
            if isinstance(ref, dict):
                kind, name = ref.get("kind"), ref.get("name")
                if isinstance(kind, str) and isinstance(name, str):
                    index.setdefault((hpa.namespace, hpa.origin, kind, name), []).append(hpa)
        return index

    def workloads_selected_by(self, pdb: K8sObject) -> list[Workload]:
        """Workloads whose pods a PDB's ``matchLabels`` select (same namespace, own tree)."""
        selector = dig(pdb.body, "spec", "selector", "matchLabels")
        if not isinstance(selector, dict) or not selector:
            return []
        scope = (pdb.namespace, pdb.origin)
        # Workloads carrying the selector's first pair, then the whole selector checked.
        first_key, first_value = next(iter(selector.items()))
        if str(first_value) == "None":  # _matches takes an absent label as "None"
            candidates = [w for w in self.workloads if (w.obj.namespace, w.obj.origin) == scope]
        else:
            key = (*scope, str(first_key), str(first_value))
            candidates = self._workloads_by_label.get(key, [])
        matching = [w for w in candidates if _matches(selector, w.pod_labels)]
        return nearest(pdb, matching, lambda w: w.obj)

    @cached_property
    def _workloads_by_label(self) -> dict[tuple[str, str, str, str], list[Workload]]:
        index: dict[tuple[str, str, str, str], list[Workload]] = {}
        for w in self.workloads:
            for key, value in w.pod_labels.items():
                entry = (w.obj.namespace, w.obj.origin, str(key), str(value))
                index.setdefault(entry, []).append(w)
        return index

    def config_map(self, name: str, namespace: str, origin: str) -> K8sObject | None:
        """A ConfigMap by name in a namespace (the first one, when repeated)."""
        return self._config_maps.get((name, namespace, origin))

    @cached_property
    def _config_maps(self) -> dict[tuple[str, str, str], K8sObject]:
        index: dict[tuple[str, str, str], K8sObject] = {}
        for cm in self.of_kind("ConfigMap"):
            index.setdefault((cm.name, cm.namespace, cm.origin), cm)
        return index

    def limit_range_defaults(self, namespace: str, origin: str) -> set[str]:
        """Which defaults a LimitRange gives containers: ``limits.memory``, ``requests.cpu`` …"""
        return set(self._limit_range_defaults.get((namespace, origin), ()))

    @cached_property
    def _limit_range_defaults(self) -> dict[tuple[str, str], frozenset[str]]:
        found: dict[tuple[str, str], set[str]] = {}
        for lr in self.of_kind("LimitRange"):
            out = found.setdefault((lr.namespace, lr.origin), set())
            for item in iter_maps(dig(lr.body, "spec", "limits")):
                if item.get("type", "Container") != "Container":
                    continue
                for key, section in (("default", "limits"), ("defaultRequest", "requests")):
                    values = item.get(key)
                    if isinstance(values, dict):
                        out.update(f"{section}.{r}" for r in values)
        return {k: frozenset(v) for k, v in found.items()}


_LOAD_WORDS = frozenset({"loadgen", "loadgenerator", "locust", "k6", "vegeta", "loadtest"})


def load_generator(c: Container) -> bool:
    """True when the workload, the container or the image's last path element is named as
    a load generator (``loadgen``, ``load-generator``, ``locust`` …)."""
    image = c.spec.get("image")
    last = (
        image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0] if isinstance(image, str) else ""
    )
    for name in (c.workload.obj.name, c.name, last):
        words = [w for w in re.split(r"[-_.]", name.lower()) if w]
        joined = {a + b for a, b in itertools.pairwise(words)}
        if _LOAD_WORDS & (set(words) | joined) or any(w.startswith("loadgen") for w in words):
            return True
    return False


def tree_distance(a: str, b: str) -> int | None:
    """How far apart two files' directories are (steps up to their common directory and
    down again), or None when they are in different top-level trees (``deploy/`` and
    ``examples/``); a file at the root is related to every other."""
    da = [p for p in posixpath.dirname(a).split("/") if p]
    db = [p for p in posixpath.dirname(b).split("/") if p]
    common = 0
    while common < min(len(da), len(db)) and da[common] == db[common]:
        common += 1
    if common == 0 and da and db:
        return None
    return len(da) + len(db) - 2 * common


def nearest(anchor: K8sObject, items: list[T], obj_of: Callable[[T], K8sObject]) -> list[T]:
    """The items from ``anchor``'s own tree: objects of one kustomize build are all one
    tree; plain files keep the items whose file is nearest to the anchor's, never one from
    an unrelated top-level directory (an example with the same labels)."""
    if anchor.origin:
        return items
    scored = [(tree_distance(anchor.at.path, obj_of(i).at.path), i) for i in items]
    related = [(d, i) for d, i in scored if d is not None]
    if not related:
        return []
    best = min(d for d, _ in related)
    return [i for d, i in related if d == best]


def _matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    return all(str(labels.get(k)) == str(v) for k, v in selector.items())


def _workload(obj: K8sObject) -> Workload | None:
    path = _TEMPLATE_PATH.get(obj.kind)
    if path is None:
        return None
    template = dig(obj.body, *path) if path else obj.body
    if not isinstance(template, YMap):
        return None
    pod_spec = template.get("spec")
    if not isinstance(pod_spec, YMap):
        return None
    replicas: int | None = None
    if obj.kind in _REPLICATED:
        value = dig(obj.body, "spec", "replicas")
        replicas = value if isinstance(value, int) and not isinstance(value, bool) else 1
    return Workload(obj, template, pod_spec, replicas)


def objects_from_docs(docs: Iterable[Any], origin: str = "") -> list[K8sObject]:
    """Kubernetes objects among parsed documents; ``List`` items expanded; others ignored."""
    out: list[K8sObject] = []
    for doc in docs:
        if not isinstance(doc, YMap):
            continue
        kind = doc.get("kind")
        if not isinstance(kind, str) or "apiVersion" not in doc:
            continue  # not a Kubernetes object (a values file, a kustomization…)
        if kind.endswith("List") and isinstance(doc.get("items"), list):
            out += objects_from_docs(doc["items"], origin)
            continue
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        out.append(
            K8sObject(
                kind=kind,
                name=str(meta.get("name", meta.get("generateName", ""))),
                namespace=str(meta.get("namespace") or "default"),
                body=doc,
                origin=origin,
            )
        )
    return out


def parse_manifests(text: str, path: str, origin: str = "") -> list[K8sObject]:
    """Kubernetes objects of a YAML/JSON stream (raises ``YamlError`` on bad YAML)."""
    return objects_from_docs(load_documents(text, path), origin)


def looks_like_manifest(text: str) -> bool:
    """A cheap test before parsing: the text names an apiVersion and a kind."""
    return "apiVersion" in text and "kind" in text


PROBE_DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}
"""Kubernetes' defaults for probe timing fields (seconds and counts)."""


def probe_timing(probe: YMap, key: str) -> float:
    """A probe timing field with the Kubernetes default (seconds, or a count)."""
    value = probe.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float(PROBE_DEFAULTS[key])


def probe_handler(probe: YMap) -> tuple[str, ...]:
    """What a probe runs, normalised: ``("http", path, port)``, ``("tcp", port)`` …"""
    http = probe.get("httpGet")
    if isinstance(http, dict):
        return (
            "http",
            str(http.get("path", "/")),
            str(http.get("port", "")),
            str(http.get("scheme", "HTTP")),
        )
    tcp = probe.get("tcpSocket")
    if isinstance(tcp, dict):
        return ("tcp", str(tcp.get("port", "")))
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):
        return ("grpc", str(grpc.get("port", "")), str(grpc.get("service", "")))
    command = dig(probe, "exec", "command")
    if isinstance(command, list):
        return ("exec", *(str(c) for c in command))
    return ("none",)


def probe_port(container: Container, probe: YMap) -> tuple[int | None, Pos]:
    """The numeric port a probe targets (named ports resolved) and where it is written."""
    for kind in ("httpGet", "tcpSocket", "grpc"):
        handler = probe.get(kind)
        if not isinstance(handler, YMap) or "port" not in handler:
            continue
        port, at = handler["port"], handler.pos("port")
        if isinstance(port, int) and not isinstance(port, bool):
            return port, at
        for declared in container.ports:
            if declared.get("name") == port and isinstance(declared.get("containerPort"), int):
                return int(declared["containerPort"]), at
        if isinstance(port, str) and port.isdigit():
            return int(port), at
        return None, at
    return None, probe.at


def prestop_seconds(container: Container) -> float:
    """The delay a preStop hook adds before SIGTERM (``sleep N`` or the sleep action)."""
    hook = dig(container.spec, "lifecycle", "preStop")
    if not isinstance(hook, dict):
        return 0.0
    seconds = dig(hook, "sleep", "seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return float(seconds)
    command = dig(hook, "exec", "command")
    if isinstance(command, list):
        words = " ".join(str(c) for c in command).replace(";", " ").replace("&&", " ").split()
        for i, word in enumerate(words[:-1]):
            if word.rsplit("/", 1)[-1] == "sleep":
                try:
                    return parse_duration_s(words[i + 1])
                except QuantityError:
                    return 0.0
    return 0.0


def has_prestop(container: Container) -> bool:
    """True when the container has any preStop hook (exec, httpGet, sleep)."""
    return isinstance(dig(container.spec, "lifecycle", "preStop"), dict)
