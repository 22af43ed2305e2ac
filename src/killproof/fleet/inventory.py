"""The workloads of a cluster from their own objects (``kubectl get deploy,sts,ds,pods,events
-A -o json`` dumps, or the same lists read from the API), judged by ``check``'s deploy rules
through the one rule engine (:func:`killproof.check.deploy.run_rules`).

Pure apart from :func:`read_dump_dir`: texts in, an :class:`Inventory` out.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from killproof.check.deploy import build_facts, finalize, run_rules
from killproof.config import ProjectConfig
from killproof.errors import InputError
from killproof.fleet.usage import ContainerSpec, OwnerIndex, WorkloadRef
from killproof.model import Finding, Skipped
from killproof.sources.deploy.manifests import (
    Container,
    ContainerRole,
    K8sObject,
    parse_manifests,
    prestop_seconds,
)
from killproof.sources.deploy.quantity import QuantityError, memory_bytes
from killproof.sources.deploy.yamltree import YamlError

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")
DUMP_SUFFIXES = (".json", ".yaml", ".yml")
DUMP_MAX_BYTES = 512 << 20


@dataclass
class Inventory:
    """What the objects say: the workloads and their app containers, pod owners, the deploy rules' findings per
    workload, and what could not be read."""

    containers: dict[WorkloadRef, dict[str, ContainerSpec]] = field(default_factory=dict)
    owners: OwnerIndex = field(default_factory=OwnerIndex)
    findings: dict[WorkloadRef, list[Finding]] = field(default_factory=dict)
    all_findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def read_dump_dir(root: Path) -> list[tuple[str, str]]:
    """(name relative to ``root``, text) of every JSON/YAML file under ``root``, sorted."""
    if not root.is_dir():
        raise InputError("not a directory (give the folder of kubectl -o json dumps)", str(root))
    out: list[tuple[str, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in DUMP_SUFFIXES and p.is_file()):
        try:
            if path.stat().st_size > DUMP_MAX_BYTES:
                raise InputError("dump too large (over 512 MiB)", str(path))
            out.append((str(path.relative_to(root)), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read dump: {exc}", str(path)) from exc
    if not out:
        raise InputError("no .json or .yaml dumps in this folder", str(root))
    return out


def _controller(obj: K8sObject) -> tuple[str, str] | None:
    refs = _dig(obj.body, "metadata", "ownerReferences")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if (
            isinstance(ref, dict)
            and ref.get("kind")
            and ref.get("name")
            and ref.get("controller", True)
        ):
            return str(ref["kind"]), str(ref["name"])
    return None


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _gomemlimit_env(c: Container) -> bool | None:
    env = c.spec.get("env")
    names = {e.get("name") for e in env if isinstance(e, dict)} if isinstance(env, list) else set()
    if "GOMEMLIMIT" in names:
        return True
    return None if c.spec.get("envFrom") else False


def _memory(c: Container, section: str) -> int | None:
    value = c.resource(section, "memory")
    if value is None:
        return None
    try:
        return memory_bytes(value)
    except QuantityError:
        return None


def container_spec(c: Container) -> ContainerSpec:
    """What the object says about one container (see :class:`ContainerSpec`)."""
    return ContainerSpec(
        gomemlimit_env=_gomemlimit_env(c),
        grace_s=c.workload.grace_s,
        prestop_s=prestop_seconds(c),
        limit_bytes=_memory(c, "limits"),
        request_bytes=_memory(c, "requests"),
    )


def build_inventory(texts: Sequence[tuple[str, str]]) -> Inventory:
    """Parse the dumps, index workloads and pod owners, and run the deploy rules on the
    workloads (pods a controller owns are left to their controller, so each finding is
    reported once per workload, not once per replica)."""
    inventory = Inventory()
    judged: list[K8sObject] = []
    file_texts: dict[str, str] = {}
    for name, text in texts:
        try:
            objects = parse_manifests(text, name)
        except YamlError as exc:
            inventory.skipped.append(Skipped(name, exc.message, name, exc.line))
            continue
        file_texts[name] = text
        for obj in objects:
            if obj.kind == "Pod":
                owner = _controller(obj)
                if owner is not None:
                    inventory.owners.add_pod(obj.namespace, obj.name, *owner)
                    _replica_set_parent(inventory.owners, obj, owner)
                    continue
            elif obj.kind not in WORKLOAD_KINDS:
                continue
            if obj.kind == "Job" and _controller(obj) is not None:
                continue  # a CronJob's run: the CronJob is judged
            judged.append(obj)
    facts = build_facts(judged, [], [], [], {}, (), ProjectConfig())
    for c in facts.manifests.containers():
        if c.role is ContainerRole.APP:
            obj = c.workload.obj
            ref = WorkloadRef(obj.namespace, obj.kind, obj.name)
            inventory.containers.setdefault(ref, {})[c.name] = container_spec(c)
    findings, skipped = run_rules(facts)
    final, unjudged = finalize(findings, file_texts, judged, ProjectConfig())
    inventory.all_findings = final
    inventory.skipped += skipped + unjudged
    starts = sorted((o.at.path, o.at.line, i) for i, o in enumerate(judged))
    keys = [(p, line) for p, line, _ in starts]
    for finding in final:
        at = bisect.bisect_right(keys, (finding.location.path, finding.location.line)) - 1
        if at < 0 or starts[at][0] != finding.location.path:
            continue
        obj = judged[starts[at][2]]
        ref = WorkloadRef(obj.namespace, obj.kind, obj.name)
        inventory.findings.setdefault(ref, []).append(finding)
    return inventory


def _replica_set_parent(owners: OwnerIndex, pod: K8sObject, owner: tuple[str, str]) -> None:
    """A Deployment's pod names its ReplicaSet ``<deployment>-<pod-template-hash>``; the
    dumps hold no ReplicaSets, so the Deployment is read from the name and the hash label."""
    kind, name = owner
    labels = _dig(pod.body, "metadata", "labels")
    hash_ = labels.get("pod-template-hash") if isinstance(labels, dict) else None
    if kind == "ReplicaSet" and isinstance(hash_, str) and name.endswith(f"-{hash_}"):
        owners.add_parent(pod.namespace, kind, name, ("Deployment", name[: -len(hash_) - 1]))
