"""The plan as a kustomize patch: ``--write-patch DIR`` writes a strategic-merge patch of
the workload, a kustomization that applies it to the manifest, and an HPA when
``--target-rps`` asked for one. :func:`changes_of` (what to write) is shared with
:mod:`killproof.plan.inplace`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from killproof.errors import InputError
from killproof.plan.alerts import to_yaml
from killproof.plan.deployed import Deployed
from killproof.plan.model import Plan, Recommendation, Setting

PATCH_NAME = "patch.yaml"
HPA_NAME = "hpa.yaml"
_RESOURCES = {
    Setting.MEMORY_REQUEST: ("requests", "memory"),
    Setting.MEMORY_LIMIT: ("limits", "memory"),
    Setting.CPU_REQUEST: ("requests", "cpu"),
    Setting.CPU_LIMIT: ("limits", "cpu"),
}
_ENV = {Setting.GOMEMLIMIT: "GOMEMLIMIT", Setting.GOGC: "GOGC", Setting.GOMAXPROCS: "GOMAXPROCS"}


@dataclass(frozen=True)
class Changes:
    """What to write into the workload, from the plan (only settings it recommends)."""

    resources: dict[tuple[str, str], str]
    env_set: dict[str, str]
    env_unset: tuple[str, ...]
    prestop_s: int | None
    grace_s: int | None
    replicas: int | None
    hpa_max: int | None


def changes_of(plan: Plan) -> Changes:
    """The values to write: every recommended resource, and the other settings that change."""

    def wanted(r: Recommendation | None) -> bool:
        return r is not None and r.changes and r.value is not None

    resources = {
        key: str(r.recommended)
        for setting, key in _RESOURCES.items()
        if (r := plan.get(setting)) is not None and r.recommended is not None
    }
    env_set: dict[str, str] = {}
    for setting, name in _ENV.items():
        r = plan.get(setting)
        if r is None or r.recommended in (None, "unset") or not r.changes:
            continue
        if setting is Setting.GOGC and r.current is None:
            continue  # "100" is the default: nothing to write
        env_set[name] = str(r.recommended)
    env_unset = tuple(
        name
        for setting, name in _ENV.items()
        if (r := plan.get(setting)) is not None and r.recommended == "unset" and r.current
    )
    prestop, grace, replicas, hpa = (
        plan.get(s) for s in (Setting.PRESTOP, Setting.GRACE, Setting.REPLICAS, Setting.HPA)
    )
    return Changes(
        resources=resources,
        env_set=env_set,
        env_unset=env_unset,
        prestop_s=int(prestop.value) if wanted(prestop) and prestop and prestop.value else None,
        grace_s=int(grace.value) if wanted(grace) and grace and grace.value else None,
        replicas=int(replicas.value) if replicas and replicas.value else None,
        hpa_max=int(hpa.value) if hpa and hpa.value else None,
    )


def strategic_patch(now: Deployed, c: Changes) -> dict[str, Any]:
    """A strategic-merge patch of the workload (containers and env merge by ``name``)."""
    container: dict[str, Any] = {"name": now.container}
    if c.resources:
        res: dict[str, dict[str, str]] = {}
        for (section, name), value in sorted(c.resources.items(), reverse=True):
            res.setdefault(section, {})[name] = value
        container["resources"] = {k: res[k] for k in ("requests", "limits") if k in res}
    env = [{"name": k, "value": v} for k, v in c.env_set.items()]
    env += [{"name": k, "$patch": "delete"} for k in c.env_unset]
    if env:
        container["env"] = env
    if c.prestop_s is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": c.prestop_s}}}
    pod: dict[str, Any] = {}
    if c.grace_s is not None:
        pod["terminationGracePeriodSeconds"] = c.grace_s
    pod["containers"] = [container]
    metadata: dict[str, Any] = {"name": now.name}
    if now.namespace and now.namespace != "default":
        metadata["namespace"] = now.namespace
    spec: dict[str, Any] = {}
    if c.replicas is not None:
        spec["replicas"] = c.replicas
    spec["template"] = {"spec": pod}
    api = "v1" if now.kind == "Pod" else "apps/v1"
    if now.kind == "Pod":
        return {"apiVersion": api, "kind": "Pod", "metadata": metadata, "spec": pod}
    return {"apiVersion": api, "kind": now.kind, "metadata": metadata, "spec": spec}


def hpa(now: Deployed, c: Changes) -> dict[str, Any] | None:
    """An autoscaling/v2 HPA on CPU at 70 % of the request, when the plan has one."""
    if c.replicas is None or c.hpa_max is None:
        return None
    metadata: dict[str, Any] = {"name": now.name}
    if now.namespace and now.namespace != "default":
        metadata["namespace"] = now.namespace
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": now.kind, "name": now.name},
            "minReplicas": c.replicas,
            "maxReplicas": c.hpa_max,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def patch_files(plan: Plan, now: Deployed, directory: Path) -> dict[str, str]:
    """File name → text of the patch directory (kustomization.yaml, patch.yaml, hpa.yaml)."""
    c = changes_of(plan)
    manifest = Path(now.path)
    relative = os.path.relpath(manifest.resolve(), directory.resolve())
    files = {PATCH_NAME: to_yaml(strategic_patch(now, c))}
    resources = [Path(relative).as_posix()]
    autoscaler = hpa(now, c)
    if autoscaler is not None:
        files[HPA_NAME] = to_yaml(autoscaler)
        resources.append(HPA_NAME)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "patches": [{"path": PATCH_NAME}],
    }
    head = (
        "# Written by killproof plan. A manifest outside this directory needs\n"
        "#   kubectl kustomize --load-restrictor LoadRestrictionsNone DIR\n"
    )
    files["kustomization.yaml"] = head + to_yaml(kustomization)
    return files


def write_patch(plan: Plan, now: Deployed, directory: Path) -> list[Path]:
    """Write :func:`patch_files` into ``directory`` (created); the paths written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in patch_files(plan, now, directory).items():
            (directory / name).write_text(text, encoding="utf-8")
            written.append(directory / name)
    except OSError as exc:
        raise InputError(f"cannot write the patch: {exc.strerror}", str(directory)) from exc
    return written
