"""Parsers for the numbers a drill is given: memory sizes, CPUs, signals.

(The SLO parser is :func:`killproof.analysis.leak.parse_slo`.)

Sizes follow Kubernetes quantities (``64Mi`` = 64 × 2²⁰ bytes, ``64M`` = 64 × 10⁶,
``1.5Gi``, plain bytes), computed by :mod:`killproof.sources.deploy.quantity` (the one quantity
module) so a ``--memory`` and a manifest's limit of the same text are the same bytes.
Every parser raises :class:`InputError` with the bad text.
"""

from __future__ import annotations

import math
import re
import signal
from decimal import Decimal

from killproof.errors import InputError
from killproof.sources.deploy.quantity import unit_factor, whole_bytes

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)(?:e(\d+))?\s*([KMGTPE]i?|k|m|B)?\s*$")
_UNITS: dict[str | None, str] = {None: "", "B": "", "K": "k"}
"""Suffixes people type that Kubernetes spells otherwise (``64B``: bytes, ``K``: ``k``)."""
MIN_MEMORY = 4 << 20
"""Below 4 MiB no Go binary starts; a smaller limit is a typo."""
UNITS = "Ki, Mi, Gi, Ti (×1024) or k, M, G, T (×1000)"
"""The size suffixes a user may give, for error messages."""
_BARE_FLOOR = 1 << 20
"""A size without a unit below this many bytes was meant in some unit (``--memory 64``)."""


def parse_bytes(text: str, what: str = "--memory") -> int:
    """``64Mi`` → 67108864. Kubernetes quantity suffixes; ``m`` (milli) is refused."""
    m = _SIZE.match(text)
    if m is None or m.group(3) == "m":
        raise InputError(f"{what} {text!r}: expected a size such as 64Mi, 128M or 1Gi ({UNITS})")
    exponent = int(m.group(2) or 0)
    if exponent > 30:
        raise InputError(f"{what} {text!r}: too large")
    unit: str | None = m.group(3)
    suffix = _UNITS.get(unit, unit or "")
    # Exact decimal arithmetic, rounded up: the same bytes sources/deploy/quantity.py gives a
    # manifest's limit (``0.1Mi`` is 104858 bytes in both).
    total = whole_bytes(Decimal(m.group(1)) * 10**exponent * unit_factor(suffix))
    if total >= 1 << 62:
        raise InputError(f"{what} {text!r}: too large")
    return total


def parse_memory_limit(text: str, what: str = "--memory") -> int:
    """A memory limit as typed by a person: :func:`parse_bytes`, except that a number
    without a unit below 1 MiB is refused (``--memory 64`` means 64Mi, not 64 bytes)."""
    total = parse_bytes(text, what)
    if total < _BARE_FLOOR and _SIZE.match(text) and not text.strip()[-1:].isalpha():
        raise InputError(
            f"{what} {text!r} has no unit, so it would mean {total} bytes: give a unit, "
            f"e.g. {text.strip()}Mi ({UNITS})"
        )
    return total


def parse_cpus(text: str) -> float:
    """``1.5``, ``500m`` (millicores) → CPUs as a float (> 0)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 1000 if raw.endswith("m") else float(raw)
    except ValueError:
        raise InputError(f"--cpus {text!r}: expected a number such as 1.5 or 500m") from None
    if not math.isfinite(value) or value <= 0 or value > 1024:
        raise InputError(f"--cpus {text!r}: must be between 0 and 1024")
    return value


def parse_signal(text: str) -> signal.Signals:
    """``SIGTERM``, ``TERM``, ``15`` → the signal (as Dockerfile STOPSIGNAL accepts)."""
    raw = text.strip().upper()
    if raw.isdigit():
        try:
            return signal.Signals(int(raw))
        except ValueError:
            raise InputError(f"unknown signal {text!r}") from None
    name = raw if raw.startswith("SIG") else f"SIG{raw}"
    try:
        return signal.Signals[name]
    except KeyError:
        raise InputError(f"unknown signal {text!r}") from None
