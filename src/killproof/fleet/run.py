"""The ``fleet`` use-case: list namespaces, ask the batched queries, fold, rank, report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from killproof.errors import InputError
from killproof.fleet.inventory import Inventory, build_inventory, read_dump_dir
from killproof.fleet.prometheus import Answers, PrometheusAccess, PrometheusClient
from killproof.fleet.promql import NAMESPACE_MATCHES, Query, batch_queries
from killproof.fleet.ranking import (
    TABLE_COLUMNS,
    RankedWorkload,
    rank_workloads,
    table_row,
    workload_json,
)
from killproof.fleet.usage import (
    ContainerUsage,
    OwnerIndex,
    WorkloadRef,
    add_owner_rows,
    by_workload,
    fold_usage,
)
from killproof.fleet.window import promql_duration
from killproof.model import Report, Skipped, Table

NAMESPACES_PER_BATCH = 8
"""Namespaces one query covers: few enough that one answer stays small, many enough that a
5,000-pod cluster is a few dozen queries, not one per pod."""


@dataclass(frozen=True)
class FleetSettings:
    """One ``fleet`` run, built at the CLI edge."""

    access: PrometheusAccess
    window_s: int
    """The history window (seconds)."""
    at: float
    """Evaluation time (Unix seconds): the end of the window."""
    namespaces: tuple[str, ...] = ()
    """Only these namespaces (empty: every namespace Prometheus knows)."""
    dump_dir: Path | None = None
    kube_context: str | None = None
    kubeconfig: Path | None = None
    batch_namespaces: int = NAMESPACES_PER_BATCH


Progress = Callable[[int], Callable[[], None]]
"""Given the number of queries, return the callback to call as each one finishes."""


def _no_progress(_total: int) -> Callable[[], None]:
    return lambda: None


async def ask_prometheus(
    settings: FleetSettings, at: float, progress: Progress = _no_progress
) -> tuple[Answers, list[str]]:
    """The namespaces to look at, then every batched query over them."""
    window = promql_duration(settings.window_s)
    async with PrometheusClient(settings.access) as client:
        namespaces = list(settings.namespaces) or await client.label_values(
            "namespace", NAMESPACE_MATCHES, at - settings.window_s, at
        )
        size = max(1, settings.batch_namespaces)
        batches = [namespaces[i : i + size] for i in range(0, len(namespaces), size)]
        queries: list[Query] = [q for b in batches for q in batch_queries(b, window)]
        answers = await client.run_all(queries, at, progress(len(queries)))
    return answers, namespaces


def read_inventory(settings: FleetSettings) -> Inventory | None:
    """The workloads' own objects, from dumps or the API (None when neither was asked)."""
    if settings.dump_dir is not None:
        return build_inventory(read_dump_dir(settings.dump_dir))
    if settings.kube_context is not None:
        from killproof.fleet.kube_api import read_cluster  # the client costs ~0.5 s to import

        return build_inventory(read_cluster(settings.kube_context, settings.kubeconfig))
    return None


def run_fleet(settings: FleetSettings, progress: Progress = _no_progress) -> Report:
    """Rank every workload Prometheus (and the inventory) knows by kill risk."""
    at = settings.at
    inventory = read_inventory(settings)
    answers, namespaces = asyncio.run(ask_prometheus(settings, at, progress))
    if answers.failures and not answers.rows:
        first = answers.failures[0].reason
        raise InputError(
            f"Prometheus answered none of the {len(answers.failures)} queries ({first})",
            settings.access.url,
        )
    owners = OwnerIndex()
    add_owner_rows(owners, answers.rows)
    if inventory is not None:  # the objects themselves know their owners best
        owners.pod_owner.update(inventory.owners.pod_owner)
        owners.parent.update(inventory.owners.parent)
    usages = fold_usage(answers.rows, owners)
    wanted = set(settings.namespaces)
    if inventory is not None:
        _apply_inventory(usages, inventory, wanted)
    ranked = rank_workloads(
        by_workload(usages), settings.window_s, inventory.findings if inventory else {}
    )
    return build_report(ranked, answers, inventory, settings, at, namespaces)


def _apply_inventory(
    usages: dict[tuple[WorkloadRef, str], ContainerUsage], inventory: Inventory, wanted: set[str]
) -> None:
    """Each container's object (env, grace, preStop; limits where kube-state-metrics has
    none); workloads with no metrics still get a row."""
    for ref, containers in inventory.containers.items():
        if wanted and ref.namespace not in wanted:
            continue
        for name, spec in containers.items():
            usage = usages.get((ref, name))
            if usage is None:
                usage = usages[(ref, name)] = ContainerUsage(ref, name)
            usage.spec = spec
            if usage.limit_bytes is None and spec.limit_bytes is not None:
                usage.limit_bytes = float(spec.limit_bytes)
            if usage.request_bytes is None and spec.request_bytes is not None:
                usage.request_bytes = float(spec.request_bytes)


def build_report(
    ranked: Sequence[RankedWorkload],
    answers: Answers,
    inventory: Inventory | None,
    settings: FleetSettings,
    at: float,
    namespaces: Sequence[str],
) -> Report:
    """The ranking as a table (text, CSV, HTML) and as JSON (``workloads``)."""
    skipped = [
        Skipped(
            f"query {f.query.signal.value} for {', '.join(f.query.namespaces)}",
            f"{f.reason} (partial result)",
        )
        for f in answers.failures
    ]
    if inventory is not None:
        skipped += inventory.skipped
    at_risk = sum(1 for r in ranked if r.score > 0)
    window = promql_duration(settings.window_s)
    summary = (
        f"{len(ranked)} workloads in {len(namespaces)} namespaces over {window}: {at_risk} at risk"
    )
    if not namespaces:
        summary += " (no cAdvisor or kube-state-metrics series in this window)"
    if answers.failures:
        summary += f" (partial: {len(answers.failures)} queries unanswered)"
    table = Table("Workloads by kill risk", TABLE_COLUMNS, tuple(table_row(r) for r in ranked))
    return Report(
        command="fleet",
        findings=tuple(inventory.all_findings) if inventory else (),
        skipped=tuple(skipped),
        sections={"workloads": [workload_json(r) for r in ranked]},
        metadata={
            "prometheus": settings.access.url,
            "window": window,
            "evaluated_at": at,
            "namespaces": list(namespaces),
            "queries": len(answers.rows) + len(answers.failures),
            "queries_failed": len(answers.failures),
        },
        summary=summary,
        tables=(table,),
    )
