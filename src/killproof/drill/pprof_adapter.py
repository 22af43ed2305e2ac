"""Heap profile files → top allocation sites, for the drill report.

Decoding is the pprof module's job (:mod:`killproof.drill.pprof`, the load/analysis
side). This adapter is the one place the drill calls it, so the drill never fails because a
profile is truncated (a service OOM-killed mid-write): the error is kept with the profile.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from killproof.drill.pprof import ProfileError, decode_heap_profile
from killproof.drill.result import AllocationSite, HeapProfile

TOP = 5


def top_sites(raw: bytes, limit: int = TOP) -> tuple[AllocationSite, ...]:
    """The ``limit`` source positions holding the most in-use bytes (gzip or plain proto).

    Each site is the innermost frame outside the Go runtime, i.e. the line that allocated.
    Raises ValueError on bytes that are not a pprof heap profile.
    """
    decoded = decode_heap_profile(raw)
    if isinstance(decoded, ProfileError):
        raise ValueError(decoded.reason)
    # Stacks made only of runtime frames (the runtime's own allocations) name no code to fix.
    sites = [
        s
        for s in decoded.top_sites("inuse_space", limit + 5)
        if not s.function.startswith("runtime.")
    ]
    return tuple(AllocationSite(s.function, s.file, s.line, s.bytes) for s in sites[:limit])


def decode(profile: HeapProfile, limit: int = TOP) -> HeapProfile:
    """``profile`` with its top sites filled in, or with ``error`` set when undecodable."""
    try:
        raw = Path(profile.path).read_bytes()
        return replace(profile, top=top_sites(raw, limit))
    except (OSError, ValueError) as exc:
        return replace(profile, error=str(exc))
