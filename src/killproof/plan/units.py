"""Rounding and printing for plan's numbers: Kubernetes quantities, GOMEMLIMIT, seconds.

Sizes print as Kubernetes quantities (``96Mi``), never as floats of bytes; CPU as
millicores (``250m``) or whole cores (``2``); GOMEMLIMIT in Go's own suffixes (``115MiB``).
"""

from __future__ import annotations

import math

MI = 1 << 20
"""One mebibyte, bytes."""


def ceil_mi(n: float) -> int:
    """``n`` bytes rounded up to a whole MiB (krr rounds memory the same way)."""
    return math.ceil(n / MI - 1e-9) * MI


def floor_mi(n: float) -> int:
    """``n`` bytes rounded down to a whole MiB (for GOMEMLIMIT: never above the target)."""
    return max(0, math.floor(n / MI + 1e-9)) * MI


def ceil_milli(cores: float) -> float:
    """Cores rounded up to a whole millicore."""
    return math.ceil(cores * 1000 - 1e-6) / 1000


def memory_quantity(n: int) -> str:
    """Bytes as a Kubernetes quantity: ``96Mi``, ``2Gi``; plain bytes when not whole KiB."""
    for suffix, size in (("Gi", 1 << 30), ("Mi", MI), ("Ki", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


def gomemlimit_text(n: int) -> str:
    """Bytes as a GOMEMLIMIT value (Go accepts ``B``, ``KiB``, ``MiB``, ``GiB``, ``TiB``)."""
    for suffix, size in (("GiB", 1 << 30), ("MiB", MI), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n}B"


def cpu_quantity(cores: float) -> str:
    """Cores as a Kubernetes quantity: ``2`` for whole cores, else millicores (``250m``)."""
    milli = round(cores * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def mib(n: float) -> str:
    """Bytes for prose: ``27.3 MiB``."""
    return f"{n / MI:.1f} MiB"


def seconds(s: float) -> str:
    """Seconds for prose: ``5.01 s``."""
    return f"{s:.2f} s"


def percentile(values: list[float] | tuple[float, ...], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
