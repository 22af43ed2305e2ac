"""The HTML report's charts, read from a report's JSON sections (pure: data in, data out).

Line charts (memory and goroutines against time, latency percentiles against the offered
rate) become uPlot specifications; the heap profile's top allocation sites and the
shutdown timeline become SVG figures laid out here and drawn by the template. A chart is
made only from data the report has: a section that is absent, ``null`` or of the wrong
shape (a hand-edited saved report) gives no chart, never an error.

Units: memory series in MiB, times in seconds since the service started (samples) or
since the stop signal (shutdown), latencies in milliseconds, rates in requests/s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from killproof.sources.deploy.quantity import QuantityError, gomemlimit_bytes

MIB = float(1 << 20)
MAX_POINTS = 4000
"""A time series longer than this is thinned (:func:`thin`): an hour at 10 Hz would
otherwise put 36,000 samples per series into the page."""


@dataclass(frozen=True)
class Marker:
    """A straight line across a chart: a value on the y axis (``horizontal``) or on the x
    axis; ``kind`` picks its colour (limit, gomemlimit, oom, thrash, signal, step, slo)."""

    value: float
    label: str
    kind: str
    horizontal: bool

    def to_json(self) -> dict[str, Any]:
        """JSON form for the page's script."""
        return {"value": self.value, "label": self.label, "kind": self.kind}


@dataclass(frozen=True)
class LineChart:
    """One uPlot chart: ``columns[0]`` is x, each further column one series (None: gap)."""

    id: str
    title: str
    x_label: str
    y_label: str
    series: tuple[str, ...]
    columns: tuple[tuple[float | None, ...], ...]
    markers: tuple[Marker, ...] = ()
    x_is_rate: bool = False

    def to_json(self) -> dict[str, Any]:
        """The specification the page's script turns into a uPlot instance."""
        return {
            "id": self.id,
            "title": self.title,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "series": list(self.series),
            "data": [list(c) for c in self.columns],
            "hlines": [m.to_json() for m in self.markers if m.horizontal],
            "vlines": [m.to_json() for m in self.markers if not m.horizontal],
            "x_is_rate": self.x_is_rate,
        }


@dataclass(frozen=True)
class Bar:
    """One allocation site: ``share`` of the largest site (0–1) sets the bar's length."""

    function: str
    where: str
    inuse_bytes: float
    share: float


@dataclass(frozen=True)
class BarChart:
    """The heap profile's top allocation sites, largest first."""

    title: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened ``at_s`` seconds after the stop signal (None: never)."""

    label: str
    at_s: float | None
    tone: str
    """``ok``, ``bad`` or ``neutral``: the colour of its bar."""


@dataclass(frozen=True)
class Timeline:
    """The shutdown test, one row per event on a shared axis of ``span_s`` seconds."""

    title: str
    span_s: float
    grace_s: float | None
    events: tuple[TimelineEvent, ...]
    notes: tuple[str, ...]


def number(value: object) -> float | None:
    """``value`` as a float when it is a JSON number (not a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def items(value: object) -> list[Mapping[str, Any]]:
    """The objects of a JSON list (anything else in it is dropped)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _mib(value: object) -> float | None:
    n = number(value)
    return None if n is None else round(n / MIB, 3)


def gomemlimit_from_env(env: object) -> float | None:
    """GOMEMLIMIT in bytes from the drill's ``GOMEMLIMIT=115MiB PORT=…`` line, if set."""
    if not isinstance(env, str):
        return None
    match = re.search(r"(?:^|\s)GOMEMLIMIT=(\S+)", env)
    if match is None:
        return None
    try:
        value = gomemlimit_bytes(match[1])
    except QuantityError:
        return None
    return None if value is None else float(value)


def signal_time_s(sections: Mapping[str, Any]) -> float | None:
    """When the stop signal was sent, seconds since the service started (from the exit time
    and the time the exit took), or None."""
    shutdown = mapping(sections.get("shutdown"))
    exit_t = number(mapping(shutdown.get("exit")).get("t_s"))
    after = number(shutdown.get("exit_after_s"))
    return None if exit_t is None or after is None else round(exit_t - after, 3)


def memory_chart(sections: Mapping[str, Any], metadata: Mapping[str, Any]) -> LineChart | None:
    """Memory against time: cgroup usage, RSS and heap in use (MiB, each when sampled),
    with the limit, GOMEMLIMIT, the step starts, the OOM kill, thrash and the stop signal."""
    samples = [s for s in items(sections.get("samples")) if number(s.get("t_s")) is not None]
    samples.sort(key=lambda s: float(s["t_s"]))  # uPlot needs x ascending
    names = (("cgroup_usage_bytes", "cgroup usage"), ("rss_bytes", "RSS"),
             ("heap_inuse_bytes", "heap in use"))  # fmt: skip
    present = [(key, label) for key, label in names if any(number(s.get(key)) for s in samples)]
    if len(samples) < 2 or not present:
        return None
    columns: list[tuple[float | None, ...]] = [tuple(number(s["t_s"]) for s in samples)]
    columns += [tuple(_mib(s.get(key)) for s in samples) for key, _ in present]
    markers: list[Marker] = []
    limit = number(mapping(sections.get("limits")).get("memory_bytes"))
    limit = limit or number(mapping(sections.get("oom")).get("limit_bytes"))
    if limit:
        markers.append(Marker(round(limit / MIB, 3), f"limit {limit / MIB:g} MiB", "limit", True))
    gomemlimit = gomemlimit_from_env(metadata.get("env"))
    if gomemlimit:
        label = f"GOMEMLIMIT {gomemlimit / MIB:g} MiB"
        markers.append(Marker(round(gomemlimit / MIB, 3), label, "gomemlimit", True))
    markers += _step_starts(samples, sections)
    oom = mapping(sections.get("oom"))
    oom_t = number(oom.get("t_s"))
    if oom_t is not None:
        source = oom.get("source")
        label = f"OOM kill ({source})" if isinstance(source, str) and source else "OOM kill"
        markers.append(Marker(oom_t, label, "oom", False))
    thrash_t = number(mapping(sections.get("thrash")).get("detected_at_s"))
    if thrash_t is not None:
        markers.append(Marker(thrash_t, "thrashing", "thrash", False))
    signal_t = signal_time_s(sections)
    if signal_t is not None:
        signal = mapping(sections.get("shutdown")).get("signal")
        markers.append(Marker(signal_t, str(signal or "stop signal"), "signal", False))
    return LineChart(
        id="memory",
        title="Memory against time",
        x_label="seconds since start",
        y_label="MiB",
        series=tuple(label for _, label in present),
        columns=thin(columns),
        markers=tuple(markers),
    )


def thin(
    columns: Sequence[tuple[float | None, ...]], max_points: int = MAX_POINTS
) -> tuple[tuple[float | None, ...], ...]:
    """At most about ``max_points`` rows of ``columns`` (x first): the rows are cut into
    ``max_points / (2 × series)`` buckets and each bucket keeps, for every series, the row of
    its lowest and of its highest value, so peaks (the one before an OOM kill) survive."""
    count = len(columns[0])
    if count <= max_points:
        return tuple(columns)
    series = columns[1:]
    buckets = max(1, max_points // (2 * max(1, len(series))))
    keep: set[int] = {0, count - 1}
    for b in range(buckets):
        rows = range(b * count // buckets, (b + 1) * count // buckets)
        for column in series:
            valued = [i for i in rows if column[i] is not None]
            if valued:
                keep.add(min(valued, key=lambda i: column[i] or 0.0))
                keep.add(max(valued, key=lambda i: column[i] or 0.0))
    kept = sorted(keep)
    return tuple(tuple(column[i] for i in kept) for column in columns)


def _step_starts(samples: Sequence[Mapping[str, Any]], sections: Mapping[str, Any]) -> list[Marker]:
    """A marker at the first sample of each load step, named by its asked rate."""
    rates = {
        s.get("index"): number(s.get("rate_asked_rps"))
        for s in items(mapping(sections.get("capacity")).get("load_steps"))
    }
    out: list[Marker] = []
    seen: set[object] = set()
    for sample in samples:
        step = sample.get("step")
        if not isinstance(step, int) or step < 0 or step in seen:
            continue
        seen.add(step)
        rate = rates.get(step)
        label = f"step {step + 1}" + (f": {rate:g}/s" if rate else "")
        out.append(Marker(float(sample["t_s"]), label, "step", False))
    return out


def goroutine_chart(sections: Mapping[str, Any]) -> LineChart | None:
    """Goroutines against time, when the drill sampled them (two samples at least)."""
    points = [
        (number(s.get("t_s")), number(s.get("goroutines"))) for s in items(sections.get("samples"))
    ]
    kept = sorted((t, g) for t, g in points if t is not None and g is not None)
    if len(kept) < 2:
        return None
    signal_t = signal_time_s(sections)
    markers = () if signal_t is None else (Marker(signal_t, "stop signal", "signal", False),)
    return LineChart(
        id="goroutines",
        title="Goroutines against time",
        x_label="seconds since start",
        y_label="goroutines",
        series=("goroutines",),
        columns=thin([tuple(t for t, _ in kept), tuple(g for _, g in kept)]),
        markers=markers,
    )


_PERCENTILES = (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99"), ("max_ms", "max"))


def latency_chart(sections: Mapping[str, Any]) -> LineChart | None:
    """Latency percentiles (ms) of each load step against its offered rate (requests/s;
    the achieved rate for a closed-loop step), with the SLO's latency."""
    capacity = mapping(sections.get("capacity"))
    steps = []
    for step in items(capacity.get("load_steps")):
        rate = number(step.get("rate_asked_rps")) or number(step.get("rate_achieved_rps"))
        if rate:
            steps.append((rate, step))
    if not steps:
        return None
    steps.sort(key=lambda pair: pair[0])
    columns: list[tuple[float | None, ...]] = [tuple(rate for rate, _ in steps)]
    columns += [tuple(number(step.get(key)) for _, step in steps) for key, _ in _PERCENTILES]
    markers: tuple[Marker, ...] = ()
    slo = capacity.get("slo")
    match = re.fullmatch(
        r"\s*p[\d.]+\s*<\s*([\d.]+)\s*(ms|s)\s*", slo if isinstance(slo, str) else ""
    )
    if match and slo:
        try:
            ms = float(match[1]) * (1000.0 if match[2] == "s" else 1.0)
        except ValueError:
            ms = 0.0
        if ms:
            markers = (Marker(ms, f"SLO {slo.strip()}", "slo", True),)
    return LineChart(
        id="latency",
        title="Latency against offered rate",
        x_label="requests/s offered",
        y_label="ms",
        series=tuple(label for _, label in _PERCENTILES),
        columns=tuple(columns),
        markers=markers,
        x_is_rate=True,
    )


def heap_sites(sections: Mapping[str, Any], limit: int = 10) -> BarChart | None:
    """The top allocation sites (in-use bytes) of the profile the report cites: the one
    before the OOM kill, else the last profile that has a top list."""
    oom = mapping(sections.get("oom"))
    sites = items(oom.get("top_sites"))
    title = "Heap in use by allocation site, profile before the OOM kill"
    if not sites:
        with_top = [p for p in items(sections.get("profiles")) if items(p.get("top"))]
        if not with_top:
            return None
        last = with_top[-1]
        sites = items(last.get("top"))
        at = number(last.get("t_s"))
        reason = last.get("reason")
        title = "Heap in use by allocation site, last profile" + (
            f" ({at:.1f} s, {reason})" if at is not None and isinstance(reason, str) else ""
        )
    sized = [(s, number(s.get("inuse_bytes")) or 0.0) for s in sites]
    sized = sorted((p for p in sized if p[1] > 0), key=lambda p: -p[1])[:limit]
    if not sized:
        return None
    largest = sized[0][1]
    bars = []
    for site, size in sized:
        file, line = site.get("file"), number(site.get("line"))
        where = str(file) if isinstance(file, str) else ""
        if where and line:
            where += f":{int(line)}"
        function = site.get("function")
        bars.append(Bar(str(function) if function else "?", where, size, size / largest))
    return BarChart(title=title, bars=tuple(bars))


def shutdown_timeline(sections: Mapping[str, Any]) -> Timeline | None:
    """The shutdown test's events after the stop signal, against the grace period."""
    shutdown = mapping(sections.get("shutdown"))
    if not shutdown:
        return None
    signal = str(shutdown.get("signal") or "stop signal")
    grace = number(shutdown.get("grace_s"))
    exit_after = number(shutdown.get("exit_after_s"))
    ready_failed = number(shutdown.get("readiness_failed_after_s"))
    closed = number(shutdown.get("listener_closed_after_s"))
    within = shutdown.get("within_grace") is True
    events = (
        TimelineEvent(f"{signal} sent", 0.0, "neutral"),
        TimelineEvent("readiness failed", ready_failed, "ok"),
        TimelineEvent("listener closed", closed, "ok"),
        TimelineEvent("exited", exit_after, "ok" if within else "bad"),
    )
    known = [e.at_s for e in events if e.at_s is not None]
    span = max([*known, grace or 0.0, 1e-3]) * 1.05
    notes = []
    counts = {k: number(shutdown.get(k)) for k in ("ok_after_signal", "failed_after_signal",
                                                  "refused_after_signal")}  # fmt: skip
    if any(v is not None for v in counts.values()):
        notes.append(
            f"requests after the signal: {int(counts['ok_after_signal'] or 0)} ok, "
            f"{int(counts['failed_after_signal'] or 0)} failed, "
            f"{int(counts['refused_after_signal'] or 0)} refused after close"
        )
    if shutdown.get("sigquit_sent") is True or shutdown.get("sigkill_sent") is True:
        notes.append("the grace period ran out: SIGQUIT/SIGKILL sent")
    return Timeline(
        title=f"Shutdown after {signal}", span_s=span, grace_s=grace, events=events,
        notes=tuple(notes),
    )  # fmt: skip
