"""The load engine: run a :class:`LoadPlan` against a loopback service.

The built-in engine is asyncio with one keep-alive connection per worker
(``plan.connections`` of them): by default the lean HTTP/1.1 client of
:mod:`killproof.drill.http1` (≈ 4× aiohttp's rate per core), or one aiohttp
``ClientSession`` with a connection-limited connector (``Transport.AIOHTTP``, and always
for https). A closed-loop step on the lean client over plain http runs instead on one
epoll loop in a worker thread (:mod:`killproof.drill.closed_loop`, ≈ 2.3× cheaper per
request than asyncio); the event loop meanwhile only relays the stop event and the
progress ticks. In an open-loop step a scheduler
releases request ``i`` at ``start + i / rate`` into a queue the workers drain; a request
that waits for a free connection is late, and its latency counts from when it was due
(wrk2's correction for coordinated omission). ``engine=Engine.WRK`` hands each step to
``wrk`` instead (:mod:`killproof.drill.load_wrk`).

Plan, step and result types live in :mod:`killproof.drill.load_plan` and are re-exported
here, so callers import everything from this module.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
from collections.abc import Callable
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from killproof.clock import Clock, RealClock
from killproof.drill.http1 import RESET_ERRNOS, Http1Connection, Http1Error, encode_request
from killproof.drill.latency import LatencyRecorder, new_histogram
from killproof.drill.load_plan import (
    CheckedTarget,
    Engine,
    ErrorKind,
    LoadPlan,
    LoadResult,
    LoadStep,
    OutcomeLog,
    ProgressCallback,
    RequestOutcome,
    StepProgress,
    Transport,
    check_target,
    checked_address,
    parse_duration,
    parse_rate_spec,
    resolve_target,
)
from killproof.drill.load_step import Fetch, StepRun
from killproof.drill.load_wrk import run_wrk
from killproof.drill.request_source import RequestSource, RequestTemplate
from killproof.errors import InputError
from killproof.facts.load import LoadModel, StepResult, WindowStats

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
    checked = (
        checked_address(plan.target, plan.address, plan.allow_remote)
        if plan.address
        else resolve_target(plan.target, plan.allow_remote)
    )
    base = checked.url
    if not plan.steps:
        raise InputError("the load plan has no steps")
    if plan.connections < 1 or plan.timeout_s <= 0:
        raise InputError("connections must be >= 1 and the request timeout positive")
    for step in plan.steps:
        if step.duration_s <= 0 or (step.model is LoadModel.OPEN and step.rate_rps <= 0):
            raise InputError(f"load step '{step}' needs a positive rate and duration")
    if plan.engine is Engine.WRK:
        return await run_wrk(plan, checked, clock, on_progress, stop)
    parts = urlsplit(base)
    # The epoll loop blocks in real time, so a fake clock keeps the asyncio path.
    direct = plan.transport is Transport.HTTP1 and parts.scheme == "http"
    direct = direct and isinstance(clock, RealClock)
    address = (checked.address, checked.port) if direct else None
    async with AsyncExitStack() as stack:
        fetchers, idle = await _open_fetchers(plan, checked, stack)
        counter = itertools.count()
        results: list[StepResult] = []
        for index, step in enumerate(plan.steps):
            if stop.is_set():
                break
            run = StepRun(plan, step, index, fetchers, clock, stop, outcomes, counter)
            if step.model is LoadModel.CLOSED and address is not None:
                idle()  # the loop opens its own connections; keep the count at the plan's
                results.append(await run.execute_direct(address, on_progress, checked.authority))
            else:
                results.append(await run.execute(on_progress))
    return LoadResult(base, plan.engine, plan.connections, tuple(results))


async def _open_fetchers(
    plan: LoadPlan, checked: CheckedTarget, stack: AsyncExitStack
) -> tuple[list[Fetch], Callable[[], None]]:
    """One fetch function per connection, closed when ``stack`` unwinds, and a function
    that closes the idle lean-client connections (they reopen on the next request).
    Every connection goes to ``checked.address``; requests name ``checked.host``."""
    parts = urlsplit(checked.url)
    if plan.transport is Transport.HTTP1 and parts.scheme == "http":
        connections = [
            Http1Connection(checked.host, checked.port, plan.timeout_s, connect_to=checked.address)
            for _ in range(plan.connections)
        ]
        for connection in connections:
            stack.callback(connection.close)

        def idle() -> None:
            for connection in connections:
                connection.close()

        return [_http1_fetch(c, plan.requests) for c in connections], idle
    connector = aiohttp.TCPConnector(
        limit=plan.connections, limit_per_host=0, resolver=CheckedResolver(checked)
    )
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=plan.timeout_s),
            auto_decompress=False,
        )
    )
    fetch = _aiohttp_fetch(session, checked.url)
    return [fetch] * plan.connections, lambda: None


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for a checked target: its host is the checked address, and any
    other name is refused (a redirect never leaves the checked address)."""

    def __init__(self, checked: CheckedTarget) -> None:
        self._checked = checked

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The checked address for the checked host; OSError for any other name."""
        del family
        if host != self._checked.host:
            raise OSError(f"{host} is not the checked target {self._checked.host}")
        ip = ipaddress.ip_address(self._checked.address)
        af = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return [
            ResolveResult(hostname=host, host=str(ip), port=port, family=af, proto=0,
                          flags=socket.AI_NUMERICHOST)
        ]  # fmt: skip

    async def close(self) -> None:
        """Nothing to release."""


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
            return 0, ErrorKind.RESET if exc.errno in RESET_ERRNOS else ErrorKind.OTHER
        except aiohttp.ClientError:
            return 0, ErrorKind.OTHER
        return status, ErrorKind.STATUS if status >= 400 else None

    return fetch
