"""Sample a running service at ≥ 5 Hz, and take a heap profile before it can be OOM-killed.

Two threads, so a slow or thrashing service never delays the memory readings:

- the *fast* loop (default 10 Hz) reads RSS (psutil, i.e. ``/proc/PID/statm``) and the
  cgroup's files directly, PSS once a second (``smaps_rollup``), and wakes the slow loop
  the moment memory crosses 80 % of the limit;
- the *slow* loop (default 2 Hz) scrapes ``/metrics`` (client_golang names) and, when that
  has no ``go_goroutines``, counts ``/debug/pprof/goroutine?debug=1``; on a wake-up it
  fetches ``/debug/pprof/heap`` at once and writes it to disk, so the profile that explains
  an OOM kill exists before the kill.

Costs stay low by design: one persistent HTTP connection, the cgroup limit read once,
metrics at a fifth of the memory rate. Units: bytes, seconds.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from killproof.analysis.leak_online import LeakSignal, OnlineLeakJudge
from killproof.clock import REAL_CLOCK, Clock
from killproof.drill.cgroup import MemoryState
from killproof.drill.load_plan import authority
from killproof.facts.drill import HeapProfile, Sample

THRESHOLD = 0.8
"""Fraction of the limit at which the pre-kill heap profile is taken."""

_GOROUTINE_TOTAL = re.compile(rb"goroutine profile: total (\d+)")


@dataclass(frozen=True)
class MetricsReading:
    """What one ``/metrics`` scrape said (None when the service does not export it)."""

    goroutines: int | None = None
    heap_inuse_bytes: int | None = None
    gc_count: int | None = None
    resident_bytes: int | None = None
    gomemlimit_bytes: int | None = None


def parse_metrics(text: str) -> MetricsReading:
    """Pick the client_golang series a drill uses out of Prometheus text; ignore the rest.

    Raises ValueError when the text is not Prometheus exposition format.
    """
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            # The GC count is a summary's _count sample; the others are unlabelled gauges.
            if (s.name in _WANTED and not s.labels) or s.name == "go_gc_duration_seconds_count":
                values[s.name] = s.value

    def get(name: str) -> int | None:
        v = values.get(name)
        return None if v is None or math.isnan(v) else int(v)

    return MetricsReading(
        goroutines=get("go_goroutines"),
        heap_inuse_bytes=get("go_memstats_heap_inuse_bytes"),
        gc_count=get("go_gc_duration_seconds_count"),
        resident_bytes=get("process_resident_memory_bytes"),
        gomemlimit_bytes=get("go_gc_gomemlimit_bytes"),
    )


_WANTED = frozenset(
    {
        "go_goroutines",
        "go_memstats_heap_inuse_bytes",
        "process_resident_memory_bytes",
        "go_gc_gomemlimit_bytes",
    }
)


def parse_goroutine_count(body: bytes) -> int | None:
    """``goroutine profile: total N`` from ``/debug/pprof/goroutine?debug=1``."""
    m = _GOROUTINE_TOTAL.search(body[:200])
    return int(m.group(1)) if m else None


class HttpScraper:
    """One keep-alive connection to the service's loopback port (reconnects on error)."""

    def __init__(self, host: str, port: int, timeout_s: float = 1.0, address: str = "") -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.address = address or host
        """Where the connection goes (the address ``host`` was checked at)."""
        self._conn: http.client.HTTPConnection | None = None
        self.missing: set[str] = set()
        """Paths that answered 404: not asked again."""

    def get(self, path: str, timeout_s: float | None = None) -> bytes | None:
        """The body of a 200 answer, or None."""
        if path.split("?", maxsplit=1)[0] in self.missing:
            return None
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout_s)
        try:
            self._conn.timeout = timeout_s or self.timeout_s
            if self._conn.sock is not None:
                self._conn.sock.settimeout(self._conn.timeout)
            self._conn.request("GET", path, headers={"Host": authority(self.host, self.port)})
            resp = self._conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return None
        if resp.status == 404:
            self.missing.add(path.split("?", maxsplit=1)[0])
        return body if resp.status == 200 else None

    def close(self) -> None:
        """Drop the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class SamplerConfig:
    """Rates (Hz), the limit (bytes) and where heap profiles go."""

    limit_bytes: int
    profile_dir: Path
    rate_hz: float = 10.0
    metrics_every_s: float = 0.5
    pss_every_s: float = 1.0
    host: str = "127.0.0.1"
    port: int = 0
    """The service's port; 0 means no HTTP scraping."""
    address: str = ""
    """The IP address ``host`` was checked at: connect there (empty: ``host``)."""
    metrics_path: str = "/metrics"
    keep_samples: int = 0
    """Keep only the newest this many samples (a ring buffer, for ``watch``); 0 keeps all."""


class Sampler:
    """Background sampling of one process and its cgroup. ``start()``, then ``stop()``."""

    def __init__(
        self,
        config: SamplerConfig,
        pid: int,
        read_cgroup: Callable[[], MemoryState | None],
        t0: float,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.config = config
        self.pid = pid
        self.read_cgroup = read_cgroup
        self.t0 = t0
        self.clock = clock
        self.step = -1
        """The load step now running; set by the drill."""
        self._samples: deque[Sample] = deque(maxlen=config.keep_samples or None)
        self._profiles: list[HeapProfile] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pending_reason = ""
        self._over_threshold = False
        self._metrics: tuple[float, MetricsReading] | None = None
        self._threads: list[threading.Thread] = []
        self._scraper = (
            HttpScraper(config.host, config.port, address=config.address) if config.port else None
        )
        self._http_lock = threading.Lock()
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._proc = None
        self._limit: int | None = None
        self.leak_judge = OnlineLeakJudge(float(config.limit_bytes))
        """The online leak judge, fed every load-step sample as it is taken (reset when the
        step changes: a new rate settles at a new level)."""
        self._judged_step = -1

    # -- public ------------------------------------------------------------------------
    def start(self) -> None:
        """Start both loops."""
        self._threads = [threading.Thread(target=self._fast, name="drill-sampler", daemon=True)]
        if self._scraper is not None:
            self._threads.append(
                threading.Thread(target=self._slow, name="drill-scraper", daemon=True)
            )
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop both loops and wait for them."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=5)
        if self._scraper is not None:
            self._scraper.close()

    def samples(self) -> tuple[Sample, ...]:
        """Every sample so far, oldest first."""
        with self._lock:
            return tuple(self._samples)

    def profiles(self) -> tuple[HeapProfile, ...]:
        """Every heap profile fetched so far (files on disk)."""
        with self._lock:
            return tuple(self._profiles)

    def missing_paths(self) -> frozenset[str]:
        """Endpoints the service answered 404 for (``/metrics``, ``/debug/pprof/heap`` …)."""
        return frozenset(self._scraper.missing) if self._scraper is not None else frozenset()

    def latest(self) -> Sample | None:
        """The newest sample."""
        with self._lock:
            return self._samples[-1] if self._samples else None

    def capture_profile(self, reason: str) -> HeapProfile | None:
        """Fetch ``/debug/pprof/heap`` now (from the caller's thread) and keep it."""
        if self._scraper is None:
            return None
        with self._http_lock:
            body = self._scraper.get("/debug/pprof/heap", timeout_s=3.0)
        if body is None:
            return None
        t = self.clock.monotonic() - self.t0
        with self._lock:
            n = len(self._profiles)
            last = self._samples[-1].memory_bytes if self._samples else None
        path = self.config.profile_dir / f"heap-{n:02d}-{reason}.pb.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        profile = HeapProfile(path=str(path), t_s=t, reason=reason, memory_bytes=last)
        with self._lock:
            self._profiles.append(profile)
        return profile

    def sample_once(self, tick: int) -> Sample:
        """Read memory now (the fast loop's body; public so it can be timed and tested)."""
        rss = pss = None
        cpu: float | None = None
        if self._proc is not None:
            try:
                rss = self._proc.memory_info().rss
                times = self._proc.cpu_times()
                cpu = round(times.user + times.system, 3)
                every = max(1, round(self.config.pss_every_s * self.config.rate_hz))
                if tick % every == 0:
                    pss = getattr(self._proc.memory_full_info(), "pss", None)
            except psutil.Error:
                self._proc = None
        state = self.read_cgroup()
        if state is not None and self._limit is None:
            self._limit = state.limit_bytes
        now = self.clock.monotonic()
        sample = Sample(
            t_s=now - self.t0,
            rss_bytes=rss,
            pss_bytes=pss,
            cgroup_usage_bytes=state.usage_bytes if state else None,
            cgroup_limit_bytes=self._limit if state else None,
            failcnt=state.failcnt if state else None,
            oom_kills=state.oom_kill if state else None,
            cpu_seconds=cpu,
            step=self.step,
        )
        with self._lock:
            if self._metrics is not None:
                sample = replace(
                    sample,
                    goroutines=self._metrics[1].goroutines,
                    heap_inuse_bytes=self._metrics[1].heap_inuse_bytes,
                    gc_count=self._metrics[1].gc_count,
                )
                self._metrics = None  # each scrape lands in exactly one sample
            self._samples.append(sample)
        self._check_threshold(sample)
        self._judge_leak(sample)
        return sample

    def leak_flag(self) -> LeakSignal | None:
        """The online judge's first leak flag during the load (None: never flagged)."""
        return self.leak_judge.first_flagged

    def _judge_leak(self, sample: Sample) -> None:
        used = sample.memory_bytes
        if sample.step < 0 or used is None or sample.oom_kills:
            return
        if sample.step != self._judged_step:
            self.leak_judge.reset()
            self._judged_step = sample.step
        first = self.leak_judge.first_flagged
        self.leak_judge.observe(sample.t_s, float(used))
        if first is None and self.leak_judge.first_flagged is not None:
            self._pending_reason = "leak-flagged"  # the heap as the leak is first called
            self._wake.set()

    # -- loops -------------------------------------------------------------------------
    def _check_threshold(self, sample: Sample) -> None:
        used = sample.memory_bytes
        if used is None:
            return
        over = used >= THRESHOLD * self.config.limit_bytes
        if over and not self._over_threshold:
            self._pending_reason = "memory-80pct"
            self._wake.set()
        self._over_threshold = over

    def _fast(self) -> None:
        period = 1.0 / self.config.rate_hz
        tick = 0
        next_at = self.clock.monotonic()
        while not self._stop.is_set():
            self.sample_once(tick)
            tick += 1
            next_at += period
            delay = next_at - self.clock.monotonic()
            if delay < 0:  # fell behind (a stalled machine): do not burst to catch up
                next_at = self.clock.monotonic()
                delay = 0
            if self._stop.wait(delay):
                break

    def _slow(self) -> None:
        assert self._scraper is not None
        while not self._stop.is_set():
            if self._pending_reason:
                reason, self._pending_reason = self._pending_reason, ""
                self.capture_profile(reason)
            self._scrape()
            self._wake.wait(self.config.metrics_every_s)
            self._wake.clear()

    def _scrape(self) -> None:
        assert self._scraper is not None
        with self._http_lock:
            body = self._scraper.get(self.config.metrics_path)
        reading = MetricsReading()
        if body is not None:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                reading = parse_metrics(body.decode())
        if reading.goroutines is None:
            with self._http_lock:
                dump = self._scraper.get("/debug/pprof/goroutine?debug=1")
            if dump is not None:
                reading = replace(reading, goroutines=parse_goroutine_count(dump))
        if reading != MetricsReading():
            with self._lock:
                self._metrics = (self.clock.monotonic(), reading)
