"""Capacity: the highest load step that held the latency SLO without errors.

A step *held* when its SLO percentile latency (from the intended send time) stayed under
the threshold, its error ratio stayed under ``max_error_ratio``, and, for an open-loop
step, the service answered at least ``min_achieved_fraction`` of the asked rate. The
capacity is the highest rate such that every step at or below it held — a lucky step
above a failed one does not count. Pure: the input is the load engine's step results.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from killproof.analysis.trend import theil_sen
from killproof.errors import InputError
from killproof.facts.load import LoadModel, StepResult
from killproof.model import JSONValue

_SLO = re.compile(r"^\s*p(\d+(?:\.\d+)?)\s*(<=|<)\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s)\s*$")
_SLO_UNIT_MS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Slo:
    """A latency objective: the ``percentile`` latency must stay under ``threshold_ms``."""

    percentile: float
    threshold_ms: float

    def __str__(self) -> str:
        return f"p{self.percentile:g}<{self.threshold_ms:g}ms"


def parse_slo(text: str) -> Slo:
    """Parse ``'p99<300ms'`` (also ``p99.9<1s``, ``p50<=20ms``, ``us``/``ms``/``s``)."""
    match = _SLO.match(text)
    if match is None:
        raise InputError(f"bad --slo {text!r}: use pNN<DURATION, e.g. p99<300ms")
    percentile = float(match.group(1))
    threshold = float(match.group(3)) * _SLO_UNIT_MS[match.group(4)]
    if not 0 < percentile <= 100 or threshold <= 0 or not math.isfinite(threshold):
        raise InputError(f"bad --slo {text!r}: percentile in (0, 100], threshold > 0")
    return Slo(percentile, threshold)


@dataclass(frozen=True)
class StepVerdict:
    """How one step fared against the SLO."""

    index: int
    rate_rps: float
    """The asked rate (open loop) or the achieved rate (closed loop), requests/s."""
    rate_achieved_rps: float
    latency_ms: float
    """The SLO percentile's latency, milliseconds."""
    error_ratio: float
    held: bool
    reason: str

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form."""
        return {
            "index": self.index,
            "rate_rps": self.rate_rps,
            "rate_achieved_rps": round(self.rate_achieved_rps, 3),
            "latency_ms": round(self.latency_ms, 3),
            "error_ratio": round(self.error_ratio, 6),
            "held": self.held,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Capacity:
    """The capacity verdict of a stepped drill."""

    slo: Slo
    max_error_ratio: float
    held_rate_rps: float | None
    """Highest rate at which this and every lower step held; None if the first failed."""
    held_step: int | None
    first_failed_step: int | None
    steps: tuple[StepVerdict, ...]
    memory_per_rps_bytes: float | None
    """Peak-memory bytes per request/s (slope across held steps), None with < 2 steps."""
    target_rps: float | None
    meets_target: bool | None
    """Whether ``held_rate_rps`` reaches ``target_rps`` (None without a target)."""

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form (the drill report's ``capacity`` section)."""
        return {
            "slo": str(self.slo),
            "max_error_ratio": self.max_error_ratio,
            "held_rate_rps": self.held_rate_rps,
            "held_step": self.held_step,
            "first_failed_step": self.first_failed_step,
            "memory_per_rps_bytes": self.memory_per_rps_bytes,
            "target_rps": self.target_rps,
            "meets_target": self.meets_target,
            "steps": [s.to_json() for s in self.steps],
        }


def latency_at(step: StepResult, percentile: float) -> float:
    """The step's latency at ``percentile``, ms: from its histogram when it has one, else
    the nearest reported percentile at or above it (p50/p90/p99/max, conservative)."""
    if step.histogram:
        try:
            histogram = HdrHistogram.decode(step.histogram.encode("ascii"))
        except Exception:  # a foreign or damaged encoding: fall back to the fixed fields
            histogram = None
        if histogram is not None and histogram.get_total_count() > 0:
            return float(histogram.get_value_at_percentile(percentile)) / 1000.0
    for bound, value in ((50.0, step.p50_ms), (90.0, step.p90_ms), (99.0, step.p99_ms)):
        if percentile <= bound:
            return value
    return step.max_ms


def judge_step(
    step: StepResult, slo: Slo, max_error_ratio: float, min_achieved_fraction: float
) -> StepVerdict:
    """One step against the SLO, the error budget and the asked rate."""
    latency = latency_at(step, slo.percentile)
    closed = step.model is LoadModel.CLOSED
    rate = step.rate_achieved_rps if closed else step.rate_asked_rps
    reasons = []
    if step.completed == 0:
        reasons.append("no request completed")
    if latency >= slo.threshold_ms:
        reasons.append(f"p{slo.percentile:g} {latency:.1f}ms ≥ {slo.threshold_ms:g}ms")
    if step.error_ratio > max_error_ratio:
        reasons.append(f"errors {step.error_ratio:.2%} > {max_error_ratio:.2%}")
    if not closed and step.rate_achieved_rps < min_achieved_fraction * step.rate_asked_rps:
        reasons.append(
            f"answered {step.rate_achieved_rps:.0f}/s of {step.rate_asked_rps:g}/s asked"
        )
    return StepVerdict(
        index=step.index,
        rate_rps=rate,
        rate_achieved_rps=step.rate_achieved_rps,
        latency_ms=latency,
        error_ratio=step.error_ratio,
        held=not reasons,
        reason="; ".join(reasons) or "held",
    )


def capacity(
    steps: Sequence[StepResult],
    slo: Slo,
    *,
    max_error_ratio: float = 0.01,
    min_achieved_fraction: float = 0.95,
    peak_memory_bytes: Sequence[float] | None = None,
    target_rps: float | None = None,
) -> Capacity:
    """Judge every step and find the capacity.

    ``peak_memory_bytes[i]`` is the peak memory during ``steps[i]`` (same order); with two
    or more held steps at distinct rates it gives the memory cost of one request/s.
    """
    verdicts = [judge_step(s, slo, max_error_ratio, min_achieved_fraction) for s in steps]
    held_step: int | None = None
    first_failed: int | None = None
    for verdict in sorted(verdicts, key=lambda v: v.rate_rps):
        if not verdict.held:
            first_failed = verdict.index
            break
        held_step = verdict.index
    by_index = {v.index: v for v in verdicts}
    held_rate = by_index[held_step].rate_rps if held_step is not None else None
    per_rps = None
    if peak_memory_bytes is not None and len(peak_memory_bytes) == len(steps):
        pairs = [
            (v.rate_achieved_rps, float(m))
            for v, m in zip(verdicts, peak_memory_bytes, strict=True)
            if v.held and math.isfinite(m)
        ]
        fit = theil_sen(pairs) if len({r for r, _ in pairs}) >= 2 else None
        if fit is None and len({r for r, _ in pairs}) == 2:
            (r1, m1), (r2, m2) = sorted(pairs)[0], sorted(pairs)[-1]
            per_rps = (m2 - m1) / (r2 - r1)
        elif fit is not None:
            per_rps = fit.slope
    return Capacity(
        slo=slo,
        max_error_ratio=max_error_ratio,
        held_rate_rps=held_rate,
        held_step=held_step,
        first_failed_step=first_failed,
        steps=tuple(verdicts),
        memory_per_rps_bytes=per_rps,
        target_rps=target_rps,
        meets_target=None if target_rps is None else (held_rate or 0.0) >= target_rps,
    )
