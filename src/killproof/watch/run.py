"""The watch loop: sample, judge online, capture on triggers, write a post-mortem on death.

One thread, one sample per ``interval_s``: the drill's :class:`~killproof.drill.sampler.
Sampler` reads RSS and the memory cgroup (its ring buffer bounded to the window), the
service's ``/metrics`` (or goroutine profile) is scraped every few samples when ``--pprof``
is given, and the :class:`~killproof.analysis.leak_online.OnlineLeakJudge` and
:class:`~killproof.watch.triggers.Triggers` decide. Memory stays bounded: the window, the
judge's bins and the list of captured profiles (pruned with the files) are all capped.

Units: bytes, seconds (``t_s`` since the watcher attached to the current process).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from killproof.analysis.leak_online import (
    GOROUTINE_SETTINGS,
    MEMORY_SETTINGS,
    LeakSignal,
    OnlineLeakJudge,
    OnlineLeakSettings,
)
from killproof.drill.sampler import (
    HttpScraper,
    Sampler,
    SamplerConfig,
    parse_goroutine_count,
    parse_metrics,
)
from killproof.errors import InputError
from killproof.facts.drill import HeapProfile, LeakFlag, Sample
from killproof.model import Report
from killproof.watch.capture import CaptureName, CaptureStore
from killproof.watch.exporter import ExporterAddress, WatchMetrics
from killproof.watch.postmortem import Death, cgroup_lines, kernel_lines, postmortem
from killproof.watch.target import Target, TargetSpec, attach, listening_ports
from killproof.watch.triggers import Reading, Triggers, TriggerSettings

_NEVER = 1 << 62
"""The sampler's own 80 % capture is the drill's; the watcher's triggers decide here."""


@dataclass(frozen=True)
class WatchSettings:
    """Everything one ``killproof watch`` needs, built at the CLI edge."""

    target: TargetSpec
    out: Path
    interval_s: float = 1.0
    window_s: float = 600.0
    """Samples kept for a capture's window and the post-mortem (seconds)."""
    pprof: str = ""
    """Base URL of the service's pprof/metrics server (``http://127.0.0.1:6060``); empty:
    the first of its listening ports that serves ``/debug/pprof/``."""
    max_disk_bytes: int | None = None
    limit_bytes: int | None = None
    """The memory limit when no memory cgroup of the target can be read (a Kubernetes
    sidecar sees the service's RSS, not its container's cgroup); a readable cgroup wins."""
    triggers: TriggerSettings = field(default_factory=TriggerSettings)
    exporter: ExporterAddress | None = None
    reattach: bool = False
    """Wait for the next process of the same ``--name`` after a death."""
    reattach_wait_s: float = 3600.0
    once: bool = False
    """Stop after the first death even with ``reattach`` (tests)."""


@dataclass
class WatchOutcome:
    """What one run of the watcher wrote (the newest entries: a watcher runs for days)."""

    captures: deque[Path] = field(default_factory=lambda: deque(maxlen=1000))
    postmortems: deque[Path] = field(default_factory=lambda: deque(maxlen=100))
    reports: deque[Report] = field(default_factory=lambda: deque(maxlen=5))
    capture_count: int = 0
    stopped: bool = False
    """Stopped by a signal (SIGTERM/SIGINT), not by the target's death."""


def _uptime_s() -> float | None:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _scraper(url: str) -> HttpScraper | None:
    if not url:
        return None
    parts = urlsplit(url if "//" in url else f"http://{url}")
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise InputError(f"--pprof wants http://HOST:PORT, not {url!r}")
    return HttpScraper(parts.hostname, parts.port, timeout_s=2.0)


class Watcher:
    """Watches one target after another (re-attaching by name); :meth:`run` until stopped."""

    def __init__(
        self,
        settings: WatchSettings,
        stop: threading.Event | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.stop = stop or threading.Event()
        self.wall = wall
        self.store = CaptureStore(settings.out, settings.max_disk_bytes)
        self.metrics = WatchMetrics()
        self.outcome = WatchOutcome()

    def run(self) -> WatchOutcome:
        """Watch until the target dies (and is not re-attached) or :attr:`stop` is set."""
        st = self.settings
        if st.exporter is not None:
            self.metrics.serve(st.exporter)
        try:
            target = attach(st.target)
            while True:
                died = self._watch(target)
                if not died or not st.reattach or st.once or self.stop.is_set():
                    break
                again = self._reattach()
                if again is None:
                    break
                target = again
        finally:
            self.metrics.close()
        return self.outcome

    def _reattach(self) -> Target | None:
        deadline = time.monotonic() + self.settings.reattach_wait_s
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                return attach(self.settings.target, wait_s=0.0)
            except InputError:
                self.stop.wait(self.settings.interval_s)
        return None

    def _watch(self, target: Target) -> bool:
        """Watch one process; True when it died, False when stopped."""
        st = self.settings
        sampler, judge, limit = self._instruments(target)
        triggers = Triggers(st.triggers)
        scraper = _scraper(st.pprof) if st.pprof else _discover_pprof(target)
        profiles: list[HeapProfile] = []
        uptime0 = _uptime_s()
        goroutines: int | None = None
        goroutine_judge = OnlineLeakJudge(None, replace(GOROUTINE_SETTINGS, every_s=5.0))
        growing: LeakSignal | None = None
        tick = 0
        try:
            while not self.stop.is_set():
                settling = tick < 10  # a launcher moves its child and execs: look often
                every = 1 if settling else max(1, round(2 / st.interval_s))
                if tick % every == 0 and target.refresh():
                    # It joined its real cgroup (a launcher's `exec`): a new limit, a new
                    # baseline for the judge.
                    sampler, judge, limit = self._instruments(target)
                sample = sampler.sample_once(tick)
                if not target.alive():
                    break
                if scraper is not None and tick % max(1, round(5 / st.interval_s)) == 0:
                    goroutines = _goroutines(scraper)
                    if goroutines is not None:
                        t = time.monotonic() - target.attached_at
                        growing = goroutine_judge.observe(t, float(goroutines)) or growing
                sample = replace(sample, goroutines=goroutines)
                used = sample.memory_bytes
                signal = judge.observe(sample.t_s, float(used)) if used is not None else None
                self._export(target.label, used, limit, judge)
                reading = Reading(used, limit, goroutines)
                for reason in triggers.fire(sample.t_s, reading, signal, growing):
                    profiles += self._capture(target, scraper, sampler.samples(), reason, sample)
                    # The post-mortem cites the newest; pruned files drop out.
                    profiles = [p for p in profiles[-20:] if Path(p.path).exists()]
                tick += 1
                self.stop.wait(st.interval_s)
            else:  # the loop ended because stop was set (a break means the target died)
                self._flush(target, sampler.samples())
                self.outcome.stopped = True
                return False
        finally:
            if scraper is not None:
                scraper.close()
        self._post_mortem(target, sampler.samples(), profiles, judge, uptime0)
        return True

    def _instruments(self, target: Target) -> tuple[Sampler, OnlineLeakJudge, int | None]:
        """A sampler (ring buffer of the window) and a leak judge for the target's cgroup."""
        st = self.settings
        state = target.memory_state()
        limit = (state.limit_bytes if state else None) or st.limit_bytes
        sampler = Sampler(
            watch_sampler_config(st), pid=target.pid, read_cgroup=target.memory_state,
            t0=target.attached_at,
        )  # fmt: skip
        judge = OnlineLeakJudge(float(limit) if limit else None, watch_judge_settings(st))
        return sampler, judge, limit

    def _export(
        self, label: str, used: int | None, limit: int | None, judge: OnlineLeakJudge
    ) -> None:
        if used is not None and limit:
            self.metrics.memory_ratio.labels(label).set(used / limit)
        latest = judge.latest
        to_limit = latest.seconds_to_limit if latest is not None else None
        self.metrics.projected.labels(label).set(float("inf") if to_limit is None else to_limit)

    def _capture(
        self,
        target: Target,
        scraper: HttpScraper | None,
        window: tuple[Sample, ...],
        reason: str,
        sample: Sample,
    ) -> list[HeapProfile]:
        """Heap profile and goroutine dump (with ``--pprof``) and the window of samples."""
        name = CaptureName(self.wall(), target.label, target.pid, reason)
        written: list[HeapProfile] = []
        if scraper is not None:
            heap = scraper.get("/debug/pprof/heap", timeout_s=5.0)
            if heap is not None:
                path = self.store.write(name, ".heap.pb.gz", heap)
                self.outcome.captures.append(path)
                written.append(HeapProfile(str(path), sample.t_s, reason, sample.memory_bytes))
            dump = scraper.get("/debug/pprof/goroutine?debug=2", timeout_s=5.0)
            if dump is not None:
                self.outcome.captures.append(self.store.write(name, ".goroutines.txt", dump))
        self.outcome.captures.append(self.store.write_samples(name, window))
        self.outcome.capture_count += 1
        self.metrics.captures.labels(target.label, reason.split("-", maxsplit=1)[0]).inc()
        return written

    def _flush(self, target: Target, window: tuple[Sample, ...]) -> None:
        """On SIGTERM: the last window on disk, so a restart of the watcher loses nothing."""
        if window:
            name = CaptureName(self.wall(), target.label, target.pid, "watcher-stopped")
            self.outcome.captures.append(self.store.write_samples(name, window))
        target.stop()

    def _post_mortem(
        self,
        target: Target,
        window: tuple[Sample, ...],
        profiles: list[HeapProfile],
        judge: OnlineLeakJudge,
        uptime0: float | None,
    ) -> None:
        after = target.memory_state()
        before_kills = next((s.oom_kills for s in window if s.oom_kills is not None), None)
        first = judge.first_flagged
        flag = None
        if first is not None:
            flag = LeakFlag(first.t_s, first.slope_per_s, first.confidence, first.level,
                            first.seconds_to_limit,
                            load_start_s=window[0].t_s if window else None)  # fmt: skip
        ended = target.exit()
        death = Death(
            t_s=time.monotonic() - target.attached_at,
            exit=ended,
            oom_kills_before=before_kills,
            oom_kills_after=after.oom_kill if after else None,
            limit_bytes=(after.limit_bytes if after else None) or self.settings.limit_bytes,
            kernel_lines=_kernel_lines_soon(uptime0, target.pid),
            cgroup_lines=cgroup_lines(target.cgroup_dir),
        )
        report = postmortem(target.command, target.version, death, window, profiles, flag)
        from killproof.report import OutputFormat, RenderOptions, render

        name = CaptureName(self.wall(), target.label, target.pid, "died")
        body = render(report, OutputFormat.JSON, RenderOptions()).encode()
        path = self.store.write(name, ".postmortem.json", body)
        self.outcome.postmortems.append(path)
        self.outcome.reports.append(report)
        oom = report.sections.get("oom")
        cause = oom["source"] if isinstance(oom, dict) else (
            ended.describe() if ended else "unknown")  # fmt: skip
        self.metrics.kills.labels(target.label, cause).inc()


def watch_sampler_config(st: WatchSettings) -> SamplerConfig:
    """The drill's sampler, tuned for days: a ring buffer of the window, PSS (a walk of
    ``smaps``) once a minute, its own 80 % capture off (the triggers decide)."""
    return SamplerConfig(
        limit_bytes=_NEVER, profile_dir=st.out, rate_hz=1 / st.interval_s,
        pss_every_s=60.0, keep_samples=max(10, round(st.window_s / st.interval_s)),
    )  # fmt: skip


def watch_judge_settings(st: WatchSettings) -> OnlineLeakSettings:
    """The online judge, evaluated every 5 samples (at least every 0.5 s) on at most 40
    bins: a leak that matters to a watcher takes minutes, and each evaluation is an O(n²)
    Theil–Sen fit (40 bins: 780 pairs)."""
    return replace(MEMORY_SETTINGS, every_s=max(0.5, 5 * st.interval_s), fit_points=40)


def _discover_pprof(target: Target) -> HttpScraper | None:
    """The first of the process's loopback-reachable listening ports that serves
    ``/debug/pprof/`` (Go's net/http/pprof index), or None."""
    for port in listening_ports(target.pid)[:8]:
        scraper = HttpScraper("127.0.0.1", port, timeout_s=1.0)
        if scraper.get("/debug/pprof/") is not None:
            return scraper
        scraper.close()
    return None


def _goroutines(scraper: HttpScraper) -> int | None:
    body = scraper.get("/metrics")
    if body is not None:
        try:
            count = parse_metrics(body.decode()).goroutines
        except (ValueError, UnicodeDecodeError):
            count = None
        if count is not None:
            return count
    dump = scraper.get("/debug/pprof/goroutine?debug=1")
    return parse_goroutine_count(dump) if dump is not None else None


def _kernel_lines_soon(uptime0: float | None, pid: int) -> tuple[str, ...]:
    """The kernel's lines can trail the SIGKILL slightly: look for a second."""
    deadline = time.monotonic() + 1.0
    while True:
        found = kernel_lines(uptime0, pid)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.25)
