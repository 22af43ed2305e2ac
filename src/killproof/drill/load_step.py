"""One running step of the built-in load engine: pacing, counting, progress, the result.

:class:`StepRun` drives a step either on asyncio (workers that await a :data:`Fetch`) or,
for a closed-loop step on the lean client, on the epoll loop of
:mod:`killproof.drill.closed_loop`, which it serves as the :class:`ClosedLoopStep`. Both
count requests the same way: latency from the intended send time, service time from the
actual one, one :class:`WindowStats` per progress interval.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from killproof.clock import Clock
from killproof.drill.closed_loop import ClosedLoop
from killproof.drill.latency import LatencyRecorder
from killproof.drill.load_plan import (
    ErrorKind,
    LoadPlan,
    LoadStep,
    OutcomeLog,
    ProgressCallback,
    RequestOutcome,
    StepProgress,
)
from killproof.drill.request_source import RequestTemplate
from killproof.facts.load import LoadModel, StepResult, WindowStats

PROGRESS_INTERVAL_S = 1.0
# The scheduler re-checks the stop event at least this often while waiting for a slot.
_MAX_IDLE_S = 0.05
# When behind schedule the scheduler yields every _BATCH slots, and keeps at most
# _BACKLOG_PER_CONNECTION slots queued per connection.
_BATCH = 64
_BACKLOG_PER_CONNECTION = 256
_FULL_BACKLOG_PAUSE_S = 0.001

Fetch = Callable[[RequestTemplate], Awaitable[tuple[int, ErrorKind | None]]]
"""Send one request on one connection: (HTTP status or 0, error kind or None)."""


@dataclass
class StepRun:
    """The mutable state of one running step: its schedule, counts, windows and result.

    Confined to the engine (:mod:`killproof.drill.load`); while the epoll loop runs a
    closed-loop step it is touched from that loop's thread only.
    """

    plan: LoadPlan
    step: LoadStep
    index: int
    fetchers: Sequence[Fetch]
    clock: Clock
    stop: asyncio.Event
    outcomes: OutcomeLog | None
    counter: Iterator[int]
    halt: threading.Event | None = None
    """Set from ``stop`` while the epoll loop runs the step in a worker thread."""
    notify: ProgressCallback | None = None
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

    async def execute_direct(
        self,
        address: tuple[str, int],
        on_progress: ProgressCallback | None,
        authority: str = "",
    ) -> StepResult:
        """Run a closed-loop step on the epoll loop in a worker thread and summarise it.

        ``address`` is where connections go (an IP address: nothing is resolved);
        ``authority`` the ``Host`` header (``address`` when empty). Every count, window and
        progress report is made on that thread; ``on_progress`` is handed back to the
        event loop.
        """
        loop = asyncio.get_running_loop()
        self.halt = halt = threading.Event()
        if on_progress is not None:
            report = on_progress

            def notify(progress: StepProgress) -> None:
                loop.call_soon_threadsafe(report, progress)

            self.notify = notify
        self.latency = LatencyRecorder(self.plan.timeout_s, windows=True)
        self.service = self.latency  # each request is sent when due: the two are one
        self.start = self.clock.monotonic()
        self.end = self.start + self.step.duration_s
        host, port = address

        def work() -> None:
            timeout_s = self.plan.timeout_s
            engine = ClosedLoop(
                host, port, len(self.fetchers), timeout_s, PROGRESS_INTERVAL_S,
                self.clock.monotonic, authority,
            )  # fmt: skip
            engine.run(self)

        async def relay_stop() -> None:
            await self.stop.wait()
            halt.set()

        relay = asyncio.create_task(relay_stop())
        try:
            await asyncio.to_thread(work)
        finally:
            halt.set()  # also when cancelled: the thread ends within the request timeout
            relay.cancel()
        self._close_window()
        return self._result()

    # -- the ClosedLoopStep the epoll loop drives (called on its thread) ----------------
    def next_request(self, now: float) -> tuple[int, RequestTemplate] | None:
        """The next request to send at ``now``, or None once the step is over."""
        if now >= self.end or self._stopping():
            return None
        self.due += 1
        return self._begin()

    def finished(
        self, n: int, sent_s: float, done_s: float, status: int, error: ErrorKind | None
    ) -> None:
        """Count request ``n`` (sent when due: a closed loop has no schedule to lag)."""
        self._record(n, sent_s, sent_s, done_s, status, error)

    def tick(self) -> None:
        """Close the progress window and report it."""
        self._tick(self.notify)

    def _stopping(self) -> bool:
        flag = self.halt if self.halt is not None else self.stop
        if flag.is_set():
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
        n, request = self._begin()
        sent_at = self.clock.monotonic()
        status, error = await fetch(request)
        self._record(n, intended, sent_at, self.clock.monotonic(), status, error)

    def _begin(self) -> tuple[int, RequestTemplate]:
        n = next(self.counter)
        self.sent += 1
        self.in_flight += 1
        return n, self.plan.requests.render(n)

    def _record(
        self,
        n: int,
        intended: float,
        sent_at: float,
        done: float,
        status: int,
        error: ErrorKind | None,
    ) -> None:
        self.in_flight -= 1
        if status:
            self.completed += 1
            assert self.latency is not None and self.service is not None
            self.latency.add(done - intended)
            if self.service is not self.latency:
                self.service.add(done - sent_at)
        if error is not None:
            self.errors[f"http_{status}" if error is ErrorKind.STATUS else error.value] += 1
        if self.outcomes is not None:
            self.outcomes.add(RequestOutcome(n, intended, sent_at, done, status, error))

    def _window_s(self) -> float:
        stop_at = self.stopped_at if self.stopped_at is not None else self.end
        return max(1e-9, min(self.end, stop_at, self.clock.monotonic()) - self.start)

    async def _progress(self, on_progress: ProgressCallback | None) -> None:
        while True:
            await self.clock.sleep(PROGRESS_INTERVAL_S)
            self._tick(on_progress)

    def _tick(self, on_progress: ProgressCallback | None) -> None:
        assert self.latency is not None
        window = self._close_window()
        if on_progress is not None:
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
