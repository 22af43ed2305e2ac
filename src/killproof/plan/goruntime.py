"""GOMEMLIMIT, GOGC and GOMAXPROCS for the recommended limits. Pure.

Sources (/work/shared/reference/load-sizing-leaks-shutdown.md §3): the GC guide's 5-10 %
headroom for memory the runtime does not manage and its GOGC model; automemlimit's 0.9
ratio; Go 1.25's cgroup-aware GOMAXPROCS (``ceil(limit)``, at least 2, updated while
running, both off when GOMAXPROCS is set); automaxprocs' ``floor(limit)`` for older Go.

Units: bytes, cores.
"""

from __future__ import annotations

import math

from killproof.plan.deployed import Deployed
from killproof.plan.evidence import DrillEvidence
from killproof.plan.model import Recommendation, Setting
from killproof.plan.sizing import GO_SHARE
from killproof.plan.units import floor_mi, gomemlimit_text, mib

CGROUP_AWARE = (1, 25)
"""The first Go release whose default GOMAXPROCS follows the cgroup CPU limit."""


def gomemlimit(ev: DrillEvidence, now: Deployed, limit_bytes: int) -> Recommendation:
    """GOMEMLIMIT for a container limit of ``limit_bytes``."""
    current = now.env.get("GOMEMLIMIT")
    non_heap = ev.non_heap_bytes
    inputs: dict[str, object] = {"limit_bytes": limit_bytes, "go_share": GO_SHARE}
    if non_heap is None:
        value = floor_mi(limit_bytes * GO_SHARE)
        formula = "GOMEMLIMIT = floor_Mi(0.9 × limit)"
        why = ("90 % of the limit (automemlimit's default; the GC guide's 5-10 % headroom). "
               "The non-heap memory was not measured: the service exports no "
               "go_memstats_heap_inuse_bytes on /metrics.")  # fmt: skip
    else:
        inputs["non_heap_bytes"] = non_heap
        inputs["heap_at_peak_bytes"] = ev.heap_at_peak_bytes
        value = floor_mi(min(limit_bytes * GO_SHARE, limit_bytes - non_heap))
        formula = "GOMEMLIMIT = floor_Mi(min(0.9 × limit, limit − non-heap))"
        why = (f"Leaves the larger of 10 % of the limit and the measured non-heap memory "
               f"({mib(non_heap)} = peak − heap in use: stacks, runtime, cgo, page cache) "
               "outside the Go heap's target, so the GC works harder before the kernel kills.")  # fmt: skip
        heap = ev.heap_at_peak_bytes or 0
        if value < heap * 1.1:
            value = floor_mi(limit_bytes * GO_SHARE)
            why += (f" That would sit within 10 % of the measured heap ({mib(heap)}) and make "
                    "the GC run constantly, so 90 % of the limit is used instead.")  # fmt: skip
    return Recommendation(Setting.GOMEMLIMIT, current, gomemlimit_text(value), formula, inputs,
                          why, float(value))  # fmt: skip


def gogc(now: Deployed) -> Recommendation:
    """GOGC: keep what is set (or the default 100) now that GOMEMLIMIT bounds the heap."""
    current = now.env.get("GOGC")
    keep = current if current else "unset"
    why = ("The GC guide's model: target heap = live heap + (live heap + GC roots) × GOGC/100. "
           "With GOMEMLIMIT set the limit bounds the heap; GOGC only sets how often the GC runs "
           "below it.")  # fmt: skip
    if current and current.lower() == "off":
        keep = "off"
        why += (" GOGC=off with GOMEMLIMIT is the GC guide's most economical setup for a "
                "container the service has to itself; keep it only with GOMEMLIMIT set.")  # fmt: skip
    elif not current:
        why += " Unset means 100: leave it."
    return Recommendation(Setting.GOGC, current, keep, "keep GOGC (default 100)",
                          {"current": current}, why)  # fmt: skip


def gomaxprocs(now: Deployed, cpu_limit: float | None) -> Recommendation:
    """GOMAXPROCS advice by Go version and CPU limit (cores; None: no CPU limit)."""
    current = now.env.get("GOMAXPROCS")
    version = now.go_version
    inputs: dict[str, object] = {
        "go_version": None if version is None else f"{version[0]}.{version[1]}",
        "cpu_limit_cores": cpu_limit,
    }
    aware = version is not None and version >= CGROUP_AWARE
    if aware or cpu_limit is None:
        recommended = "unset"
        if aware:
            why = ("Go 1.25+ (go.mod's go line; older lines keep the old default through "
                   "GODEBUG containermaxprocs=0) sets GOMAXPROCS from the cgroup CPU limit "
                   "(ceil, at least 2) and follows changes; setting GOMAXPROCS turns both off.")  # fmt: skip
            formula = "Go ≥ 1.25: unset (runtime default = max(ceil(CPU limit), 2))"
        else:
            why = ("No CPU limit: the default (the node's CPU count) cannot be throttled. "
                   "Before Go 1.25 the runtime ignores cgroup CPU limits, so set it if a CPU "
                   "limit is added.")  # fmt: skip
            formula = "no CPU limit: unset"
            if version is None:
                why += " The Go version was not found (no go.mod near the manifest)."
        value = None
    else:
        whole = max(1, math.floor(cpu_limit))
        recommended = str(whole)
        value = float(whole)
        formula = "Go < 1.25: GOMAXPROCS = max(floor(CPU limit), 1) (automaxprocs)"
        why = ("Before Go 1.25 the runtime starts one P per node CPU and a CPU limit throttles "
               "them all; automaxprocs' floor keeps the work inside the quota. "
               "Upgrading to Go 1.25 makes this automatic.")  # fmt: skip
        if version is None:
            why += " The Go version was not found (no go.mod): on Go 1.25+ leave it unset."
    return Recommendation(Setting.GOMAXPROCS, current, recommended, formula, inputs, why, value)
