"""Heap profile files → top allocation sites, for the drill report.

Decoding is the pprof module's job (:mod:`killproof.drill.pprof`, the load/analysis
side). This adapter is the one place the drill calls it, so the drill never fails because a
profile is truncated (a service OOM-killed mid-write): the error is kept with the profile.
"""

from __future__ import annotations

import gzip
import zlib
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from google.protobuf.message import DecodeError

from killproof.drill import profile_pb2
from killproof.drill.result import AllocationSite, HeapProfile

TOP = 5


def top_sites(raw: bytes, limit: int = TOP) -> tuple[AllocationSite, ...]:
    """The ``limit`` source positions holding the most in-use bytes (gzip or plain proto).

    Each sample is charged to its innermost frame outside the Go runtime, i.e. the line
    that allocated. Raises ValueError on bytes that are not a pprof profile.
    """
    data = raw
    if raw[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"bad gzip: {exc}") from exc
    prof = profile_pb2.Profile()
    try:
        prof.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError(f"not a pprof profile: {exc}") from exc
    strings = list(prof.string_table)

    def text(i: int) -> str:
        return strings[i] if 0 <= i < len(strings) else ""

    types = [text(t.type) for t in prof.sample_type]
    if "inuse_space" not in types:
        raise ValueError("profile has no inuse_space samples (not a heap profile)")
    col = types.index("inuse_space")
    functions = {f.id: (text(f.name), text(f.filename)) for f in prof.function}
    frames: dict[int, list[tuple[str, str, int]]] = {}
    for loc in prof.location:
        frames[loc.id] = [
            (*functions.get(line.function_id, ("?", "")), int(line.line)) for line in loc.line
        ]
    totals: dict[tuple[str, str, int], int] = defaultdict(int)
    for sample in prof.sample:
        if col >= len(sample.value) or sample.value[col] <= 0:
            continue
        site = None
        for loc_id in sample.location_id:
            for fn, file, line in frames.get(loc_id, []):
                if not fn.startswith("runtime."):
                    site = (fn, file, line)
                    break
            if site:
                break
        if site is not None:
            totals[site] += int(sample.value[col])
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return tuple(AllocationSite(fn, file, line, n) for (fn, file, line), n in ranked)


def decode(profile: HeapProfile, limit: int = TOP) -> HeapProfile:
    """``profile`` with its top sites filled in, or with ``error`` set when undecodable."""
    try:
        raw = Path(profile.path).read_bytes()
        return replace(profile, top=top_sites(raw, limit))
    except (OSError, ValueError) as exc:
        return replace(profile, error=str(exc))
