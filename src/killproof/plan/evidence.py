"""What ``plan`` takes from drill reports (``killproof drill --format json``).

The drill report's JSON form is the contract between ``drill`` and ``plan`` (see
:mod:`killproof.drill.verdict`): ``samples`` (one per sampler tick), ``leak``, ``oom``,
``capacity``, ``shutdown`` and ``limits``. This module reads the numbers plan sizes from
and nothing else. Pure: a parsed JSON document in, a frozen :class:`DrillEvidence` out.

Units: bytes, seconds, CPU cores, requests per second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from killproof.analysis.capacity import parse_slo
from killproof.errors import InputError
from killproof.sources.deploy.quantity import QuantityError, gomemlimit_bytes

CPU_WINDOW_S = 1.0
"""CPU use is averaged over windows at least this long (10 Hz ticks are too noisy)."""


@dataclass(frozen=True)
class LeakVerdict:
    """A leak the drill found: the metric, its slope and the drill's own words."""

    metric: str
    """``memory`` (bytes) or ``goroutines`` (count)."""
    slope_per_s: float
    seconds_to_limit: float | None
    reason: str


@dataclass(frozen=True)
class OomKill:
    """The drill's service was killed for memory."""

    t_s: float
    limit_bytes: int
    memory_bytes: int | None
    top_site: str
    """``function file:line`` of the largest in-use allocation site before the kill, or ``""``."""


@dataclass(frozen=True)
class Drain:
    """What the shutdown test measured (seconds since the stop signal)."""

    exit_after_s: float | None
    """None when the process did not exit by itself within the grace period."""
    readiness_failed_after_s: float | None
    listener_closed_after_s: float | None
    grace_s: float
    failed_after_signal: int
    sigkill_sent: bool


@dataclass(frozen=True)
class DrillEvidence:
    """The measurements one or more drills give ``plan``.

    Memory series are the cgroup's usage (what the kernel compares with the limit; RSS only
    when the drill ran without a cgroup, see ``memory_source``).
    """

    sources: tuple[str, ...]
    service: str
    limit_bytes: int
    memory_source: str
    """``cgroup`` or ``rss`` (the watchdog sandbox has no cgroup)."""
    peak_bytes: int
    report_peaks_bytes: tuple[int, ...]
    """Each report's own peak (VPA keeps one peak per aggregation interval)."""
    load_memory_bytes: tuple[int, ...]
    """Memory at every sample taken while load ran (for percentile strategies)."""
    heap_at_peak_bytes: int | None
    """``go_memstats_heap_inuse_bytes`` at the sample nearest the memory peak, when scraped."""
    peak_goroutines: int | None
    cpu_cores: tuple[float, ...]
    """CPU use under load, cores, one value per :data:`CPU_WINDOW_S` window."""
    leaks: tuple[LeakVerdict, ...]
    oom: OomKill | None
    held_rate_rps: float | None
    slo_percentile: float
    slo_ms: float
    drain: Drain | None
    findings: tuple[str, ...]
    """The drill's own rule ids (``KP601``, ``KP602`` …)."""
    pprof: str | None
    """The command that opens the cited heap profile, when the drill kept one."""
    thrashed: bool = False
    """The drill found the service pinned at its limit without an OOM kill (KP610)."""
    drill_gomemlimit_bytes: int | None = None
    """The GOMEMLIMIT the drilled process ran with, when its report names one."""

    @property
    def non_heap_bytes(self) -> int | None:
        """Memory at the peak that is not heap in use: stacks, runtime, cgo, page cache."""
        if self.heap_at_peak_bytes is None:
            return None
        return max(0, self.peak_bytes - self.heap_at_peak_bytes)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    n = _num(value)
    return None if n is None else int(n)


MAX_BYTES = 1 << 50
"""A memory reading above 1 PiB is not a reading: the report is damaged."""
MAX_CORES = 10_000.0


def _bytes(value: Any) -> int | None:
    """A size in bytes, or None when absent or implausible (negative, > 1 PiB)."""
    n = _int(value)
    return n if n is not None and 0 <= n <= MAX_BYTES else None


def _map(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a damaged report)."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def _seconds(value: Any) -> float | None:
    """A duration in seconds between 0 and 10⁶, else None."""
    n = _num(value)
    return n if n is not None and 0 <= n <= 1e6 else None


def _rate(value: Any) -> float | None:
    """A request rate (requests/s) of at least 0.001, else None."""
    n = _num(value)
    return n if n is not None and 0.001 <= n <= 1e9 else None


def _cpu_windows(samples: Sequence[Mapping[str, Any]]) -> tuple[float, ...]:
    """Cores used in consecutive windows of at least :data:`CPU_WINDOW_S` under load."""
    points = [
        (t, c)
        for s in samples
        if isinstance(s.get("step"), int) and s["step"] >= 0
        for t, c in [(_num(s.get("t_s")), _num(s.get("cpu_seconds")))]
        if t is not None and c is not None
    ]
    out: list[float] = []
    start = points[0] if points else None
    for t, c in points[1:]:
        assert start is not None
        if t - start[0] >= CPU_WINDOW_S:
            cores = (c - start[1]) / (t - start[0])
            if math.isfinite(cores) and cores <= MAX_CORES:
                out.append(max(0.0, cores))
            start = (t, c)
    return tuple(out)


def _memory(sample: Mapping[str, Any], source: str) -> int | None:
    return _bytes(sample.get("cgroup_usage_bytes" if source == "cgroup" else "rss_bytes"))


def _leaks(leak: Any) -> tuple[LeakVerdict, ...]:
    out = []
    for key in ("memory", "goroutines"):
        entry = leak.get(key) if isinstance(leak, Mapping) else None
        if isinstance(entry, Mapping) and entry.get("leaking") is True:
            out.append(
                LeakVerdict(
                    metric=key,
                    slope_per_s=_num(entry.get("slope_per_s")) or 0.0,
                    seconds_to_limit=_num(entry.get("seconds_to_limit")),
                    reason=str(entry.get("reason", "")),
                )
            )
    return tuple(out)


def _oom(oom: Any) -> OomKill | None:
    if not isinstance(oom, Mapping) or not oom.get("killed"):
        return None
    sites = _list(oom.get("top_sites"))
    top = ""
    if sites and isinstance(sites[0], Mapping):
        s = sites[0]
        top = f"{s.get('function', '?')} {s.get('file', '?')}:{s.get('line', 0)}"
    return OomKill(
        t_s=_num(oom.get("t_s")) or 0.0,
        limit_bytes=_bytes(oom.get("limit_bytes")) or 0,
        memory_bytes=_bytes(oom.get("memory_bytes")),
        top_site=top,
    )


def _drain(shutdown: Any) -> Drain | None:
    if not isinstance(shutdown, Mapping):
        return None
    return Drain(
        exit_after_s=_seconds(shutdown.get("exit_after_s"))
        if shutdown.get("within_grace")
        else None,
        readiness_failed_after_s=_seconds(shutdown.get("readiness_failed_after_s")),
        listener_closed_after_s=_seconds(shutdown.get("listener_closed_after_s")),
        grace_s=_seconds(shutdown.get("grace_s")) or 0.0,
        failed_after_signal=_int(shutdown.get("failed_after_signal")) or 0,
        sigkill_sent=bool(shutdown.get("sigkill_sent")),
    )


def _env_gomemlimit(env: Any) -> int | None:
    """GOMEMLIMIT from the drill's ``metadata.env`` (``KEY=VALUE`` words), when set."""
    if not isinstance(env, str):
        return None
    for word in env.split():
        if word.startswith("GOMEMLIMIT="):
            try:
                return _bytes(gomemlimit_bytes(word.split("=", 1)[1]))
            except QuantityError:
                return None
    return None


def from_report(data: Any, source: str) -> DrillEvidence:
    """Read one drill report (parsed JSON). InputError when it is not a drill report or
    holds no memory sample."""
    if not isinstance(data, Mapping) or data.get("command") != "drill":
        what = data.get("command") if isinstance(data, Mapping) else type(data).__name__
        raise InputError(f"not a drill report (command {what!r}): run killproof drill "
                         "--format json", source)  # fmt: skip
    samples = [s for s in _list(data.get("samples")) if isinstance(s, Mapping)]
    has_cgroup = any(_memory(s, "cgroup") is not None for s in samples)
    memory_source = "cgroup" if has_cgroup else "rss"
    memory = [(s, m) for s in samples if (m := _memory(s, memory_source)) is not None]
    if not memory:
        raise InputError("the drill report has no memory sample to size from", source)
    peak_sample, peak = max(memory, key=lambda pair: pair[1])
    heap = _bytes(peak_sample.get("heap_inuse_bytes"))
    if heap is None:  # heap is scraped at 1-2 Hz: take the scrape nearest the peak
        t_peak = _num(peak_sample.get("t_s")) or 0.0
        scraped = [
            (abs((_num(s.get("t_s")) or 0.0) - t_peak), h)
            for s in samples
            if (h := _bytes(s.get("heap_inuse_bytes"))) is not None
        ]
        heap = min(scraped)[1] if scraped else None
    goroutines = [g for s in samples if (g := _int(s.get("goroutines"))) is not None]
    limits = _map(data.get("limits"))
    capacity = _map(data.get("capacity"))
    try:
        slo = parse_slo(str(capacity.get("slo") or "p99<300ms"))
    except InputError as exc:
        raise InputError(f"the drill report's capacity.slo: {exc.message}", source) from exc
    command = [str(c) for c in _list(_map(data.get("metadata")).get("command"))] or ["service"]
    return DrillEvidence(
        sources=(source,),
        service=command[0].rsplit("/", 1)[-1] or "service",
        limit_bytes=_bytes(limits.get("memory_bytes")) or 0,
        memory_source=memory_source,
        peak_bytes=peak,
        report_peaks_bytes=(peak,),
        load_memory_bytes=tuple(
            m for s, m in memory if isinstance(s.get("step"), int) and s["step"] >= 0
        ),
        heap_at_peak_bytes=heap,
        peak_goroutines=max(goroutines) if goroutines else None,
        cpu_cores=_cpu_windows(samples),
        leaks=_leaks(data.get("leak")),
        oom=_oom(data.get("oom")),
        held_rate_rps=_rate(capacity.get("held_rate_rps")),
        slo_percentile=slo.percentile,
        slo_ms=slo.threshold_ms,
        drain=_drain(data.get("shutdown")),
        findings=tuple(
            dict.fromkeys(
                str(f.get("rule")) for f in _list(data.get("findings")) if isinstance(f, Mapping)
            )
        ),
        pprof=data.get("pprof") if isinstance(data.get("pprof"), str) else None,
        thrashed=isinstance(data.get("thrash"), Mapping),
        drill_gomemlimit_bytes=_env_gomemlimit(_map(data.get("metadata")).get("env")),
    )


def combine(reports: Sequence[DrillEvidence]) -> DrillEvidence:
    """Several drills of one service as one: the highest peak (with its heap reading), all
    load samples, every leak, the first OOM kill, the *lowest* rate held (the rate every
    run held) and the slowest drain."""
    if not reports:
        raise InputError("no drill report given")
    first = reports[0]
    top = max(reports, key=lambda r: r.peak_bytes)
    held = [r.held_rate_rps for r in reports]
    drains = [r.drain for r in reports if r.drain is not None]
    slowest = None
    if drains:
        unfinished = [d for d in drains if d.exit_after_s is None]
        slowest = unfinished[0] if unfinished else max(drains, key=lambda d: d.exit_after_s or 0.0)
    goroutines = [r.peak_goroutines for r in reports if r.peak_goroutines is not None]
    return replace(
        top,
        sources=tuple(s for r in reports for s in r.sources),
        service=first.service,
        report_peaks_bytes=tuple(p for r in reports for p in r.report_peaks_bytes),
        load_memory_bytes=tuple(m for r in reports for m in r.load_memory_bytes),
        peak_goroutines=max(goroutines) if goroutines else None,
        cpu_cores=tuple(c for r in reports for c in r.cpu_cores),
        leaks=tuple(leak for r in reports for leak in r.leaks),
        oom=next((r.oom for r in reports if r.oom is not None), None),
        held_rate_rps=None if any(h is None for h in held) else min(h for h in held if h),
        drain=slowest,
        findings=tuple(dict.fromkeys(f for r in reports for f in r.findings)),
        pprof=next((r.pprof for r in reports if r.pprof), None),
        thrashed=any(r.thrashed for r in reports),
    )
