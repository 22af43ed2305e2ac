"""Workloads ranked by kill risk, with a recommendation each (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from killproof.fleet.risk import Risk, container_risk, growing
from killproof.fleet.sizing import MemoryRecommendation, krr_memory_recommendation
from killproof.fleet.usage import ContainerUsage, WorkloadRef
from killproof.model import Finding

MIB = float(1 << 20)


@dataclass(frozen=True)
class ContainerVerdict:
    """One container's numbers, risk and recommendation."""

    usage: ContainerUsage
    risk: Risk
    recommendation: MemoryRecommendation | None


@dataclass(frozen=True)
class RankedWorkload:
    """A workload's place in the ranking: 1 is the most likely to be killed next."""

    rank: int
    workload: WorkloadRef
    score: float
    reasons: tuple[str, ...]
    containers: tuple[ContainerVerdict, ...]
    findings: tuple[Finding, ...]


def rank_workloads(
    containers: Mapping[WorkloadRef, Sequence[ContainerUsage]],
    window_s: float,
    findings: Mapping[WorkloadRef, Sequence[Finding]],
) -> list[RankedWorkload]:
    """Score every workload (its worst container), highest first; ties put the one nearest
    its limit first, then by name."""
    scored: list[tuple[float, float, WorkloadRef, list[ContainerVerdict]]] = []
    for ref, usages in containers.items():
        own = findings.get(ref, ())
        verdicts = []
        for usage in usages:
            mine = [f for f in own if f"container {usage.container}" in f.location.subject]
            risk = container_risk(usage, window_s, mine or own)
            rec = None
            if usage.peak_bytes is not None:
                rec = krr_memory_recommendation(
                    usage.peak_bytes,
                    usage.limit_bytes,
                    capped=usage.kills > 0,
                    growing=growing(usage, window_s),
                )
            verdicts.append(ContainerVerdict(usage, risk, rec))
        verdicts.sort(key=lambda v: (-v.risk.score, v.usage.container))
        worst = verdicts[0].risk
        scored.append((worst.score, worst.headroom_share or 0.0, ref, verdicts))
    scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    return [
        RankedWorkload(
            rank=i,
            workload=ref,
            score=score,
            reasons=verdicts[0].risk.reasons,
            containers=tuple(verdicts),
            findings=tuple(findings.get(ref, ())),
        )
        for i, (score, _, ref, verdicts) in enumerate(scored, 1)
    ]


def _mib(value: float | None) -> float | None:
    return None if value is None else round(value / MIB, 1)


def workload_json(row: RankedWorkload) -> dict[str, object]:
    """One workload's JSON object (the ``workloads`` list of ``fleet --format json``);
    memory in MiB, slopes in MiB/day."""
    return {
        "rank": row.rank,
        "namespace": row.workload.namespace,
        "kind": row.workload.kind,
        "name": row.workload.name,
        "score": row.score,
        "reasons": list(row.reasons),
        "rules": sorted({f.rule for f in row.findings}),
        "containers": [_container_json(v) for v in row.containers],
        "recommendation": [
            {
                "container": v.usage.container,
                "memory_request_mib": _mib(v.recommendation.request_bytes),
                "memory_limit_mib": _mib(v.recommendation.limit_bytes),
                "over_provisioned": v.recommendation.over_provisioned,
                "note": v.recommendation.note,
            }
            for v in row.containers
            if v.recommendation is not None
        ],
    }


def _container_json(v: ContainerVerdict) -> dict[str, object]:
    u = v.usage
    slope = u.slope_bytes_per_s
    return {
        "container": u.container,
        "pods": len(u.pods),
        "score": v.risk.score,
        "reasons": list(v.risk.reasons),
        "peak_mib": _mib(u.peak_bytes),
        "last_mib": _mib(u.last_bytes),
        "slope_mib_per_day": None if slope is None else round(slope * 86400 / MIB, 2),
        "days_to_limit": None if v.risk.days_to_limit is None else round(v.risk.days_to_limit, 2),
        "limit_mib": _mib(u.limit_bytes),
        "request_mib": _mib(u.request_bytes),
        "oom_kills": u.kills,
        "restarts": u.restarts,
        "throttled_share": None if u.throttled_share is None else round(u.throttled_share, 3),
        "goroutines_peak": u.goroutines,
        "heap_inuse_peak_mib": _mib(u.heap_inuse_bytes),
        "gomemlimit_missing": u.gomemlimit_missing,
    }


TABLE_COLUMNS = (
    "rank", "workload", "score", "peak MiB", "limit MiB", "request MiB", "kills",
    "recommend MiB", "reasons",
)  # fmt: skip


def table_row(row: RankedWorkload) -> tuple[str, ...]:
    """The ranking table's row: numbers the CSV keeps machine-readable (MiB, no unit)."""
    worst = row.containers[0]
    u, rec = worst.usage, worst.recommendation

    def num(value: float | None) -> str:
        return "" if value is None else f"{value / MIB:.0f}"

    recommend = "" if rec is None else num(rec.limit_bytes)
    if rec is not None and rec.note:
        recommend += f" ({rec.note.split(':')[0]})"
    name = str(row.workload)
    if len(row.containers) > 1:
        name += f" [{u.container}]"
    return (
        str(row.rank), name, f"{row.score:g}", num(u.peak_bytes), num(u.limit_bytes),
        num(u.request_bytes), str(u.kills), recommend, "; ".join(row.reasons) or "-",
    )  # fmt: skip
