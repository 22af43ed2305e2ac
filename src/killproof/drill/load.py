"""The load engine: run a :class:`LoadPlan` against a loopback service.

The built-in engine is asyncio with one keep-alive connection per worker
(``plan.connections`` of them): by default the lean HTTP/1.1 client of
:mod:`killproof.drill.http1` (≈ 4× aiohttp's rate per core), or one aiohttp
``ClientSession`` with a connection-limited connector (``Transport.AIOHTTP``, and always
for https). In an open-loop step a scheduler
releases request ``i`` at ``start + i / rate`` into a queue the workers drain; a request
that waits for a free connection is late, and its latency counts from when it was due
(wrk2's correction for coordinated omission). ``engine=Engine.WRK`` hands each step to
``wrk`` instead (:mod:`killproof.drill.load_wrk`).

Plan, step and result types live in :mod:`killproof.drill.load_plan` and are re-exported
here, so callers import everything from this module.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from hdrh.histogram import HdrHistogram

from killproof.clock import Clock, RealClock
from killproof.drill.http1 import Http1Connection, Http1Error, encode_request
from killproof.drill.latency import LatencyRecorder, new_histogram
from killproof.drill.load_plan import (
    Engine,
    ErrorKind,
    LoadModel,
    LoadPlan,
    LoadResult,
    LoadStep,
    OutcomeLog,
    ProgressCallback,
    RequestOutcome,
    StepProgress,
    StepResult,
    Transport,
    WindowStats,
    check_target,
    parse_duration,
    parse_rate_spec,
)
from killproof.drill.load_wrk import run_wrk
from killproof.drill.request_source import RequestSource, RequestTemplate
from killproof.errors import InputError

__all__ = [
    "Engine",
    "ErrorKind",
    "LatencyRecorder",
    "LoadModel",
    "LoadPlan",
    "LoadResult",
    "LoadStep",
    "OutcomeLog",
    "ProgressCallback",
    "RequestOutcome",
    "StepProgress",
    "StepResult",
    "Transport",
    "WindowStats",
    "check_target",
    "new_histogram",
    "parse_duration",
    "parse_rate_spec",
    "run_load",
]

PROGRESS_INTERVAL_S = 1.0
# The scheduler re-checks the stop event at least this often while waiting for a slot.
_MAX_IDLE_S = 0.05
# When behind schedule the scheduler yields every _BATCH slots, and keeps at most
# _BACKLOG_PER_CONNECTION slots queued per connection.
_BATCH = 64
_BACKLOG_PER_CONNECTION = 256
_FULL_BACKLOG_PAUSE_S = 0.001
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})

Fetch = Callable[[RequestTemplate], Awaitable[tuple[int, ErrorKind | None]]]
"""Send one request on one connection: (HTTP status or 0, error kind or None)."""


async def run_load(
    plan: LoadPlan,
    clock: Clock | None = None,
    on_progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
    outcomes: OutcomeLog | None = None,
) -> LoadResult:
    """Run every step of ``plan`` in order and return what each achieved.

    ``stop`` ends the current step early (in-flight requests still finish, bounded by
    ``plan.timeout_s``) and skips the rest. ``outcomes`` receives every finished request
    (it keeps only those after its :meth:`OutcomeLog.record_from` moment). Raises
    :class:`InputError` for a remote target without ``allow_remote`` or a malformed plan.
    """
    clock = clock or RealClock()
    stop = stop or asyncio.Event()
    base = check_target(plan.target, plan.allow_remote)
    if not plan.steps:
        raise InputError("the load plan has no steps")
    if plan.connections < 1 or plan.timeout_s <= 0:
        raise InputError("connections must be >= 1 and the request timeout positive")
    for step in plan.steps:
        if step.duration_s <= 0 or (step.model is LoadModel.OPEN and step.rate_rps <= 0):
            raise InputError(f"load step '{step}' needs a positive rate and duration")
    if plan.engine is Engine.WRK:
        return await run_wrk(plan, base, clock, on_progress, stop)
    async with AsyncExitStack() as stack:
        fetchers = await _open_fetchers(plan, base, stack)
        counter = itertools.count()
        results: list[StepResult] = []
        for index, step in enumerate(plan.steps):
            if stop.is_set():
                break
            run = _StepRun(plan, step, index, fetchers, clock, stop, outcomes, counter)
            results.append(await run.execute(on_progress))
    return LoadResult(base, plan.engine, plan.connections, tuple(results))


async def _open_fetchers(plan: LoadPlan, base: str, stack: AsyncExitStack) -> list[Fetch]:
    """One fetch function per connection; closed when ``stack`` unwinds."""
    parts = urlsplit(base)
    if plan.transport is Transport.HTTP1 and parts.scheme == "http":
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        connections = [Http1Connection(host, port, plan.timeout_s) for _ in range(plan.connections)]
        for connection in connections:
            stack.callback(connection.close)
        return [_http1_fetch(c, plan.requests) for c in connections]
    connector = aiohttp.TCPConnector(limit=plan.connections, limit_per_host=0)
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=plan.timeout_s),
            auto_decompress=False,
        )
    )
    fetch = _aiohttp_fetch(session, base)
    return [fetch] * plan.connections


def _http1_fetch(connection: Http1Connection, source: RequestSource) -> Fetch:
    def encode(request: RequestTemplate) -> bytes:
        body = request.body.encode() if request.body else b""
        return encode_request(
            request.method, request.path, connection.authority, request.headers, body
        )

    # A template without {n} renders to itself: encode it once. Keyed by id(): the
    # templates live as long as the source, so no other object can take their ids.
    static = {id(t): encode(t) for t in source.templates if t.render(0) is t}

    async def fetch(request: RequestTemplate) -> tuple[int, ErrorKind | None]:
        data = static.get(id(request))
        if data is None:
            data = encode(request)
        try:
            status = await connection.send(data, head_only=request.method == "HEAD")
        except Http1Error as exc:
            return 0, exc.kind
        return status, ErrorKind.STATUS if status >= 400 else None

    return fetch


def _aiohttp_fetch(session: aiohttp.ClientSession, base: str) -> Fetch:
    async def fetch(request: RequestTemplate) -> tuple[int, ErrorKind | None]:
        try:
            async with session.request(
                request.method,
                base + request.path,
                headers=request.headers or None,
                data=request.body.encode() if request.body else None,
            ) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            return 0, ErrorKind.TIMEOUT
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            return 0, ErrorKind.REFUSED if refused else ErrorKind.OTHER
        except aiohttp.ServerDisconnectedError:
            return 0, ErrorKind.DISCONNECTED
        except aiohttp.ClientPayloadError:
            return 0, ErrorKind.RESET
        except aiohttp.ClientOSError as exc:
            return 0, ErrorKind.RESET if exc.errno in _RESET_ERRNOS else ErrorKind.OTHER
        except aiohttp.ClientError:
            return 0, ErrorKind.OTHER
        return status, ErrorKind.STATUS if status >= 400 else None

    return fetch


@dataclass
class _StepRun:
    """The mutable state of one running step (confined to this module)."""

    plan: LoadPlan
    step: LoadStep
    index: int
    fetchers: Sequence[Fetch]
    clock: Clock
    stop: asyncio.Event
    outcomes: OutcomeLog | None
    counter: Iterator[int]
    start: float = 0.0
    end: float = 0.0
    stopped_at: float | None = None
    due: int = 0
    sent: int = 0
    completed: int = 0
    in_flight: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: LatencyRecorder | None = None
    service: LatencyRecorder | None = None
    timeline: list[WindowStats] = field(default_factory=list)
    _window_completed: int = 0
    _window_errors: int = 0

    async def execute(self, on_progress: ProgressCallback | None) -> StepResult:
        """Run the step to its end (or the stop event) and summarise it."""
        self.latency = LatencyRecorder(self.plan.timeout_s, windows=True)
        self.service = LatencyRecorder(self.plan.timeout_s)
        self.start = self.clock.monotonic()
        self.end = self.start + self.step.duration_s
        ticker = asyncio.create_task(self._progress(on_progress))
        try:
            if self.step.model is LoadModel.OPEN:
                queue: asyncio.Queue[float | None] = asyncio.Queue()
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._schedule(queue))
                    for fetch in self.fetchers:
                        group.create_task(self._open_worker(queue, fetch))
            else:
                async with asyncio.TaskGroup() as group:
                    for fetch in self.fetchers:
                        group.create_task(self._closed_worker(fetch))
        finally:
            ticker.cancel()
        self._close_window()
        return self._result()

    def _stopping(self) -> bool:
        if self.stop.is_set():
            if self.stopped_at is None:
                self.stopped_at = self.clock.monotonic()
            return True
        return False

    async def _schedule(self, queue: asyncio.Queue[float | None]) -> None:
        interval = 1.0 / self.step.rate_rps
        i = 0
        while not self._stopping():
            intended = self.start + i * interval
            if intended >= self.end:
                break
            now = self.clock.monotonic()
            if intended > now:
                await self.clock.sleep(min(intended - now, _MAX_IDLE_S))
                continue
            if queue.qsize() < _BACKLOG_PER_CONNECTION * len(self.fetchers):
                queue.put_nowait(intended)
                i += 1
                if i % _BATCH == 0:
                    await asyncio.sleep(0)  # behind schedule: let the workers run
            else:
                # Backlog full: the slots up to now can never be sent in time. Skip them
                # (they stay due and unsent) and give the workers a moment.
                i = max(i + 1, math.floor((now - self.start) * self.step.rate_rps))
                await self.clock.sleep(_FULL_BACKLOG_PAUSE_S)
        self.due = i
        for _ in self.fetchers:
            queue.put_nowait(None)

    async def _open_worker(self, queue: asyncio.Queue[float | None], fetch: Fetch) -> None:
        while (intended := await queue.get()) is not None:
            # A slot still queued when the step is over was never sent: count it, drop it.
            if self._stopping() or self.clock.monotonic() >= self.end:
                continue
            await self._send(intended, fetch)

    async def _closed_worker(self, fetch: Fetch) -> None:
        while not self._stopping():
            now = self.clock.monotonic()
            if now >= self.end:
                break
            self.due += 1
            await self._send(now, fetch)

    async def _send(self, intended: float, fetch: Fetch) -> None:
        n = next(self.counter)
        request = self.plan.requests.render(n)
        self.sent += 1
        self.in_flight += 1
        sent_at = self.clock.monotonic()
        status, error = await fetch(request)
        done = self.clock.monotonic()
        self.in_flight -= 1
        if status:
            self.completed += 1
            assert self.latency is not None and self.service is not None
            self.latency.add(done - intended)
            self.service.add(done - sent_at)
        if error is not None:
            self.errors[f"http_{status}" if error is ErrorKind.STATUS else error.value] += 1
        if self.outcomes is not None:
            self.outcomes.add(RequestOutcome(n, intended, sent_at, done, status, error))

    def _window_s(self) -> float:
        stop_at = self.stopped_at if self.stopped_at is not None else self.end
        return max(1e-9, min(self.end, stop_at, self.clock.monotonic()) - self.start)

    async def _progress(self, on_progress: ProgressCallback | None) -> None:
        assert self.latency is not None
        while True:
            await self.clock.sleep(PROGRESS_INTERVAL_S)
            window = self._close_window()
            if on_progress is None:
                continue
            histogram = self.latency.histogram()
            on_progress(
                StepProgress(
                    step_index=self.index,
                    steps_total=len(self.plan.steps),
                    elapsed_s=self.clock.monotonic() - self.start,
                    step_duration_s=self.step.duration_s,
                    rate_asked_rps=self.step.rate_rps,
                    rate_achieved_rps=self.completed / self._window_s(),
                    sent=self.sent,
                    completed=self.completed,
                    errors=sum(self.errors.values()),
                    in_flight=self.in_flight,
                    p50_ms=_percentile_ms(histogram, 50.0),
                    p99_ms=_percentile_ms(histogram, 99.0),
                    window=window,
                )
            )

    def _close_window(self) -> WindowStats | None:
        """End the current per-second window and append it to the timeline."""
        assert self.latency is not None
        now = self.clock.monotonic()
        started = self.timeline[-1].t_s if self.timeline else self.start
        length = now - started
        if length < 0.01:  # the step ended right on a tick: nothing left to report
            return None
        errors = sum(self.errors.values())
        p50, p99 = self.latency.take_window((50.0, 99.0))
        window = WindowStats(
            t_s=now,
            duration_s=length,
            completed=self.completed - self._window_completed,
            errors=errors - self._window_errors,
            rate_rps=(self.completed - self._window_completed) / length,
            p50_ms=p50,
            p99_ms=p99,
        )
        self._window_completed, self._window_errors = self.completed, errors
        self.timeline.append(window)
        return window

    def _result(self) -> StepResult:
        assert self.latency is not None and self.service is not None
        latency, service = self.latency.histogram(), self.service.histogram()
        has_data = latency.get_total_count() > 0
        return StepResult(
            index=self.index,
            model=self.step.model,
            rate_asked_rps=self.step.rate_rps,
            rate_achieved_rps=self.completed / self._window_s(),
            duration_s=self._window_s(),
            sent=self.sent,
            completed=self.completed,
            unsent=max(0, self.due - self.sent),
            errors=tuple(sorted(self.errors.items())),
            p50_ms=_percentile_ms(latency, 50.0),
            p90_ms=_percentile_ms(latency, 90.0),
            p99_ms=_percentile_ms(latency, 99.0),
            max_ms=latency.get_max_value() / 1000.0 if has_data else 0.0,
            service_p99_ms=_percentile_ms(service, 99.0),
            histogram=latency.encode().decode("ascii") if has_data else "",
            stopped_early=self.stopped_at is not None,
            timeline=tuple(self.timeline),
        )


def _percentile_ms(histogram: HdrHistogram, percentile: float) -> float:
    if histogram.get_total_count() == 0:
        return 0.0
    return float(histogram.get_value_at_percentile(percentile)) / 1000.0
