"""``plan``'s use-case: drill reports (and the deployed container) → recommendations → Report.

The JSON form (``--format json``) has ``schema_version``, ``"command": "plan"`` and one
object per recommendation in ``recommendations`` with ``setting``, ``current``,
``recommended``, ``formula`` and ``inputs`` (a contract: the HTML report renders it).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from killproof.errors import InputError
from killproof.model import Report, Table
from killproof.plan.deployed import Deployed
from killproof.plan.evidence import DrillEvidence, combine, from_report
from killproof.plan.model import Plan, Strategy
from killproof.plan.recommend import recommend
from killproof.plan.units import mib

WRAP = 88
"""Columns of reasoning per line in the text tables."""


@dataclass(frozen=True)
class PlanSettings:
    """What ``killproof plan`` was asked for (built once at the CLI edge)."""

    strategy: Strategy = Strategy.KILLPROOF
    target_rps: float | None = None
    cpu_limit: bool = False


def read_reports(paths: Sequence[Path]) -> list[DrillEvidence]:
    """Parse drill JSON reports; InputError (exit 2) naming the file on any problem."""
    out = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", str(path)) from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            line = getattr(exc, "lineno", 0)
            raise InputError(f"not a JSON drill report: {exc}", str(path), line) from exc
        out.append(from_report(data, str(path)))
    return out


def placeholder(ev: DrillEvidence) -> Deployed:
    """The deployed settings when no manifest is known: nothing set."""
    return Deployed(path="", kind="", name="", namespace="", container=ev.service)


def _input_text(key: str, value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and key.endswith("_bytes"):
        return f"{key}={value:.0f} ({mib(value)})"
    return f"{key}={value}"


def _wrapped(key: str, text: str) -> list[tuple[str, str]]:
    """A key/value row wrapped at :data:`WRAP` columns: continuation rows have no key
    (the text formatter never wraps a cell; Markdown joins them back into one item)."""
    parts = textwrap.wrap(text, WRAP, break_long_words=False, break_on_hyphens=False)
    return [(key if i == 0 else "", part) for i, part in enumerate(parts or [""])]


def _tables(plan: Plan, subject: str) -> tuple[Table, ...]:
    rows = tuple(
        (
            r.setting.value,
            r.current if r.current is not None else "-",
            r.recommended
            if r.recommended is not None
            else ("REFUSED" if r.formula.startswith("refused") else "not measured"),
        )
        for r in plan.recommendations
    )
    why: list[tuple[str, str]] = []
    before = None
    for r in plan.recommendations:
        inputs = ", ".join(_input_text(k, v) for k, v in r.inputs.items())
        text = f"{r.formula}. {r.reasoning}" + (f" Inputs: {inputs}." if inputs else "")
        if before is not None and (r.formula, r.reasoning, r.inputs) == before[1:]:
            text = f"as {before[0]}."  # memory request and limit share one derivation
        else:
            before = (r.setting.value, r.formula, r.reasoning, r.inputs)
        why += _wrapped(r.setting.value, text)
    return (
        Table(
            f"Plan ({plan.strategy.value} strategy) for {subject}",
            ("setting", "now", "recommended"),
            rows,
        ),
        Table("Formula, reasoning and inputs", ("", ""), tuple(why)),
    )


def build_report(
    evidence: Sequence[DrillEvidence],
    now: Deployed | None,
    settings: PlanSettings,
    extra: Mapping[str, Any] | None = None,
) -> tuple[Report, Plan]:
    """The plan and its report (``extra`` adds JSON sections: files written …)."""
    ev = combine(evidence)
    deployed = now or placeholder(ev)
    plan = recommend(ev, deployed, settings.strategy, settings.target_rps, settings.cpu_limit)
    subject = (
        f"{deployed.path} {deployed.kind}/{deployed.name} container {deployed.container}"
        if now is not None
        else f"{ev.service} (no manifest: current values unknown)"
    )
    changed = sum(1 for r in plan.recommendations if r.changes)
    if plan.refusal is not None:
        summary = (
            f"plan: memory NOT sized for {ev.service}: {plan.refusal.reason}. "
            f"Fix the leak first (see {plan.refusal.pointer})"
        )
    else:
        summary = (
            f"plan ({settings.strategy.value}): {changed} setting"
            f"{'s' if changed != 1 else ''} to change for {ev.service}, from "
            f"{len(ev.sources)} drill report{'s' if len(ev.sources) != 1 else ''} "
            f"(peak {mib(ev.peak_bytes)} at a {mib(ev.limit_bytes)} limit)"
        )
    sections: dict[str, Any] = {
        "strategy": settings.strategy.value,
        "service": ev.service,
        "workload": None
        if now is None
        else {
            "path": now.path,
            "kind": now.kind,
            "name": now.name,
            "namespace": now.namespace,
            "container": now.container,
        },
        "drill_reports": list(ev.sources),
        "refused": None
        if plan.refusal is None
        else {"reason": plan.refusal.reason, "see": plan.refusal.pointer},
        "recommendations": [r.to_json() for r in plan.recommendations],
        **(extra or {}),
    }
    report = Report(
        command="plan",
        sections=sections,
        metadata={"target_rps": settings.target_rps, "cpu_limit": settings.cpu_limit},
        summary=summary,
        tables=_tables(plan, subject),
    )
    return report, plan
