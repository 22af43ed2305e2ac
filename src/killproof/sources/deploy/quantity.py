"""Kubernetes resource quantities and Go runtime sizes, as plain numbers.

Kubernetes memory quantities (``512Mi``, ``1G``, ``1.5Gi``, ``134217728``, ``1e9``) become
bytes; CPU quantities (``500m``, ``2``, ``0.25``) become cores. GOMEMLIMIT uses the Go
runtime's own syntax (``512MiB``, ``1GiB``, ``100000000``, ``off``), which is *not* the
Kubernetes one: ``Mi`` is an error there, and the Go runtime refuses to start with it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
# `\d+(?:\.\d*)?`, not `\d+\.?\d*`: the latter splits a digit run between its two repeats
# in every way before it fails (quadratic on a long run). The exponent is bounded so that
# 10**exp stays a number.
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|"
    r"(?P<exp>[eE][+-]?\d{1,3}))?$"
)
# The Go runtime's parseByteCount (runtime/proc.go): B, KiB, MiB, GiB, TiB, no decimal units.
_GO_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_GO_SIZE = re.compile(r"^(?P<num>\d+)(?P<unit>B|KiB|MiB|GiB|TiB)?$")


class QuantityError(ValueError):
    """A string that is not a valid quantity; the message says what was expected."""


def parse_quantity(text: str | int | float) -> Decimal:
    """A Kubernetes quantity as an exact number in base units (bytes or cores)."""
    if isinstance(text, bool):
        raise QuantityError(f"not a quantity: {text!r}")
    if isinstance(text, int | float):
        return Decimal(str(text))
    match = _QUANTITY.match(text.strip())
    if not match:
        raise QuantityError(f"not a Kubernetes quantity: {text!r} (expected e.g. 512Mi, 500m, 2)")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise QuantityError(f"not a number: {text!r}") from exc
    if match["exp"]:
        return number * (Decimal(10) ** int(match["exp"][1:]))
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    return number * _DECIMAL[suffix]


def memory_bytes(text: str | int | float) -> int:
    """A memory quantity in bytes (rounded up, as the kubelet does)."""
    return whole_bytes(parse_quantity(text))


def whole_bytes(value: Decimal) -> int:
    """An exact byte count rounded up to a whole byte, as the kubelet does (``0.1Mi`` is
    104857.6 bytes: 104858)."""
    whole = int(value)
    return whole + 1 if value > whole else whole


def unit_factor(suffix: str) -> Decimal:
    """Bytes (or cores) per unit of a Kubernetes quantity suffix (``Mi``, ``M``, ``k``,
    ``m``, ``''``); KeyError for any other."""
    return Decimal(_BINARY[suffix]) if suffix in _BINARY else _DECIMAL[suffix]


def cpu_cores(text: str | int | float) -> float:
    """A CPU quantity in cores (``500m`` → 0.5)."""
    return float(parse_quantity(text))


def gomemlimit_bytes(text: str) -> int | None:
    """GOMEMLIMIT in bytes, or None for ``off``; raises :class:`QuantityError` when Go would.

    Go accepts a plain byte count or a count with ``B``/``KiB``/``MiB``/``GiB``/``TiB``.
    """
    value = text.strip()
    if value == "off":
        return None
    match = _GO_SIZE.match(value)
    if not match:
        raise QuantityError(
            f"not a GOMEMLIMIT value: {text!r} (Go accepts e.g. 512MiB, 1GiB, 536870912, off)"
        )
    return int(match["num"]) * _GO_UNITS[match["unit"] or "B"]


def format_bytes(n: int) -> str:
    """Bytes as a Kubernetes quantity in the largest binary unit that keeps an integer
    (``512Mi``), else plain bytes: what a manifest or ``--memory`` would say."""
    for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


def mib(n: float | None, unknown: str = "?") -> str:
    """Bytes in MiB with one decimal for a person (``64.0 MiB``); ``unknown`` for None."""
    return unknown if n is None else f"{n / (1 << 20):.1f} MiB"


def parse_duration_s(text: str | int | float) -> float:
    """A compose/Go duration (``1m30s``, ``10s``, ``500ms``, ``2h``) or plain seconds."""
    if isinstance(text, bool):
        raise QuantityError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        return float(text)
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = _terms(_DURATION_TERM, value)
    if not parts:
        raise QuantityError(f"not a duration: {text!r} (expected e.g. 30s, 1m30s, 500ms)")
    scale = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


_DURATION_TERM = re.compile(r"(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)")
_TIMESPAN_TERM = re.compile(r"(\d+(?:\.\d+)?)([a-z]+)")


def _terms(term: re.Pattern[str], value: str) -> list[tuple[str, str]] | None:
    """``value`` read as consecutive ``term`` matches (number, unit), or None.

    Each match is anchored where the last one ended: searching instead (``findall``)
    retries from every position of a long digit run, quadratic in the run's length.
    """
    parts: list[tuple[str, str]] = []
    pos = 0
    while pos < len(value):
        match = term.match(value, pos)
        if match is None:
            return None
        parts.append((match[1], match[2]))
        pos = match.end()
    return parts


def parse_systemd_timespan_s(text: str) -> float | None:
    """A systemd time span (``90``, ``90s``, ``1min 30s``, ``2m``, ``infinity``) in seconds.

    None means infinity (systemd then never sends SIGKILL).
    """
    value = text.strip()
    if value in ("infinity", ""):
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    units = {
        "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3,
        "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
        "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
        "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    }  # fmt: skip
    parts = _terms(_TIMESPAN_TERM, value.replace(" ", ""))
    if not parts or any(unit not in units for _, unit in parts):
        raise QuantityError(f"not a systemd time span: {text!r} (expected e.g. 90s, 1min 30s)")
    return sum(float(n) * units[unit] for n, unit in parts)


def parse_systemd_bytes(text: str) -> int | None:
    """A systemd memory size (``512M``, ``1G``, ``1073741824``, ``infinity``) in bytes.

    systemd's K/M/G/T are binary (1024-based). Percentages (``50%``) return None: they are
    relative to physical memory, which is not known here.
    """
    value = text.strip()
    if value in ("infinity", "") or value.endswith("%"):
        return None
    match = re.fullmatch(r"(\d{1,20}(?:\.\d{1,20})?)([KMGTPE]?)", value)  # int(inf) raises
    if not match:
        raise QuantityError(f"not a systemd size: {text!r} (expected e.g. 512M, 1G)")
    power = " KMGTPE".index(match[2] or " ")
    return int(float(match[1]) * 1024**power)


def parse_docker_bytes(text: str | int | float) -> int:
    """A Docker/compose memory size (``512m``, ``1g``, ``256M``, ``1gb``, bytes) in bytes.

    Docker's units are binary and case-insensitive (``m`` is MiB, not milli).
    """
    if isinstance(text, bool):
        raise QuantityError(f"not a size: {text!r}")
    if isinstance(text, int | float):
        return int(text)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)b?", text.strip().lower())
    if not match:
        raise QuantityError(f"not a Docker memory size: {text!r} (expected e.g. 512m, 1g)")
    return int(float(match[1]) * 1024 ** "bkmgt".index(match[2] or "b"))
