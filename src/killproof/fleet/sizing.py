"""Memory sizing for ``fleet``'s recommendations: krr's simple strategy, on purpose small.

``plan`` (src/killproof/plan/sizing.py) owns killproof's sizing, from a drill's evidence;
fleet has only Prometheus' peaks, so it applies plan's krr recipe (its margin and minimum)
to them here. This is the one function to swap when plan takes a peak directly:
:func:`krr_memory_recommendation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from killproof.plan.sizing import KRR_MEM_MIN, MARGIN

KRR_MEMORY_BUFFER = 1 + MARGIN
"""krr's simple strategy: memory request = limit = peak working set × 1.15 (at least
plan's ``KRR_MEM_MIN``, 100 MiB)."""
OVER_PROVISIONED_FACTOR = 2.0
"""A limit at least this many times the recommendation is reported as over-provisioned."""
MIB = 1 << 20


@dataclass(frozen=True)
class MemoryRecommendation:
    """Request and limit in bytes (whole MiB, rounded up) and why."""

    request_bytes: int
    limit_bytes: int
    over_provisioned: bool
    """The current limit is ≥ :data:`OVER_PROVISIONED_FACTOR` × the recommendation."""
    note: str = ""


def krr_memory_recommendation(
    peak_bytes: float, limit_bytes: float | None, capped: bool, growing: bool
) -> MemoryRecommendation:
    """krr's formula (max(peak × 1.15, 100 MiB), request = limit) with two honest notes: a peak that hit
    the limit (``capped``: OOM kills) only says the need is *above* it, and a working set
    that keeps ``growing`` is a leak that a bigger limit only postpones."""
    size = max(math.ceil(peak_bytes * KRR_MEMORY_BUFFER / MIB) * MIB, KRR_MEM_MIN)
    over = limit_bytes is not None and limit_bytes >= OVER_PROVISIONED_FACTOR * size
    note = ""
    if capped:
        note = "peak is capped by the limit (OOM kills): the need is above it; re-measure"
    elif growing:
        note = "still growing: a leak; a bigger limit only delays the kill"
    elif over and limit_bytes is not None:
        note = f"over-provisioned: gives back {(limit_bytes - size) / MIB:.0f} MiB"
    return MemoryRecommendation(size, size, over, note)
