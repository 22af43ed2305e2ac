"""The workloads' objects read live with the official ``kubernetes`` client (kubeconfig
context, or in-cluster with ``--kube-context in-cluster``), returned as the same List JSON
``kubectl get deploy,sts,ds,pods,events -A -o json`` writes, so dumps and the API go
through one reader (:func:`killproof.fleet.inventory.build_inventory`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from killproof.errors import InputError

IN_CLUSTER = "in-cluster"
"""``--kube-context in-cluster``: the pod's service account instead of a kubeconfig."""

# (file name, API group/version, client class, list method) — exactly what kubectl's
# `get deploy,sts,ds,pods,events -A` lists, so the API and a dump give the same table.
_LISTS = (
    ("deployments.json", "apps/v1", "AppsV1Api", "list_deployment_for_all_namespaces"),
    ("statefulsets.json", "apps/v1", "AppsV1Api", "list_stateful_set_for_all_namespaces"),
    ("daemonsets.json", "apps/v1", "AppsV1Api", "list_daemon_set_for_all_namespaces"),
    ("pods.json", "v1", "CoreV1Api", "list_pod_for_all_namespaces"),
    ("events.json", "v1", "CoreV1Api", "list_event_for_all_namespaces"),
)


def _api_client(context: str, kubeconfig: Path | None) -> Any:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        if context == IN_CLUSTER:
            config.load_incluster_config()
            return client.ApiClient()
        return config.new_client_from_config(
            config_file=str(kubeconfig) if kubeconfig else None, context=context
        )
    except (ConfigException, OSError, ValueError) as exc:
        raise InputError(f"cannot use kube context {context!r}: {exc}") from exc


def as_kubectl_list(payload: Any, api_version: str) -> dict[str, Any]:
    """An API List answer (``DeploymentList``, items without kind/apiVersion) as kubectl
    prints it: ``kind: List`` whose items carry their own kind and apiVersion."""
    kind = str(payload.get("kind", "")).removesuffix("List")
    items = [
        {"apiVersion": api_version, "kind": kind, **item}
        for item in payload.get("items", [])
        if isinstance(item, dict)
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def read_cluster(context: str, kubeconfig: Path | None = None) -> list[tuple[str, str]]:
    """(name, List JSON text) per resource kind, read from the API of ``context``."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    api = _api_client(context, kubeconfig)
    out: list[tuple[str, str]] = []
    try:
        for name, api_version, cls, method in _LISTS:
            reader = getattr(client, cls)(api)
            response = getattr(reader, method)(_preload_content=False)
            payload = json.loads(response.data)
            if not isinstance(payload, dict):
                raise InputError(f"the API answered {name} with no List", context)
            out.append((name, json.dumps(as_kubectl_list(payload, api_version), indent=2)))
    except ApiException as exc:
        raise InputError(
            f"the Kubernetes API refused a list: {exc.status} {exc.reason}", context
        ) from exc
    except (HTTPError, OSError, ValueError) as exc:
        raise InputError(f"cannot reach the Kubernetes API: {exc}", context) from exc
    finally:
        api.close()
    return out
