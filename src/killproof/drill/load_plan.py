"""The load plan and its results: steps, rate specs, targets, per-request outcomes.

All pure values and parsers; the engines (:mod:`killproof.drill.load`, the builtin
asyncio engine, and :mod:`killproof.drill.load_wrk`) turn a :class:`LoadPlan` into a
:class:`LoadResult`. Latencies are milliseconds from the *intended* send time (wrk2's
correction for coordinated omission).
"""

from __future__ import annotations

import enum
import ipaddress
import math
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from killproof.drill.request_source import RequestSource
from killproof.errors import InputError
from killproof.facts.load import LoadModel, StepResult, WindowStats
from killproof.model import JSONValue
from killproof.sources.deploy.quantity import QuantityError, parse_duration_s


class Engine(enum.Enum):
    """Which load generator runs the plan."""

    BUILTIN = "builtin"
    WRK = "wrk"


class Transport(enum.Enum):
    """How the built-in engine speaks HTTP."""

    HTTP1 = "http1"
    """The lean keep-alive HTTP/1.1 client (:mod:`killproof.drill.http1`), plain http only."""
    AIOHTTP = "aiohttp"
    """aiohttp's ClientSession (also used for https targets)."""


class ErrorKind(enum.Enum):
    """Why a request failed; HTTP statuses >= 400 are counted per code (``http_503``)."""

    STATUS = "status"
    REFUSED = "refused"
    RESET = "reset"
    DISCONNECTED = "disconnected"
    TIMEOUT = "timeout"
    OTHER = "other"


@dataclass(frozen=True)
class LoadStep:
    """One step of the plan: ``rate_rps`` requests per second for ``duration_s`` seconds.

    ``rate_rps`` is ignored (0) for a closed-loop step.
    """

    rate_rps: float
    duration_s: float
    model: LoadModel = LoadModel.OPEN

    def __str__(self) -> str:
        rate = "max" if self.model is LoadModel.CLOSED else f"{self.rate_rps:g}/s"
        return f"{rate} for {self.duration_s:g}s"


@dataclass(frozen=True)
class LoadPlan:
    """Everything :func:`run_load` needs.

    ``target`` is the service's base URL (``http://127.0.0.1:18090``); ``timeout_s`` bounds
    one request, connect included.
    """

    target: str
    requests: RequestSource
    steps: tuple[LoadStep, ...]
    connections: int = 64
    timeout_s: float = 10.0
    allow_remote: bool = False
    engine: Engine = Engine.BUILTIN
    transport: Transport = Transport.HTTP1
    address: str = ""
    """The IP address ``target``'s host was resolved to when it was checked
    (:func:`resolve_target`): connections go there, never to a second resolution of the
    name. Empty: :func:`~killproof.drill.load.run_load` resolves the name once itself."""


@dataclass(frozen=True)
class RequestOutcome:
    """One request, timed on the run's clock (seconds)."""

    n: int
    intended_s: float
    """When the schedule wanted it sent."""
    sent_s: float
    done_s: float
    status: int
    """HTTP status, 0 when no response came back."""
    error: ErrorKind | None

    @property
    def error_key(self) -> str | None:
        """``http_503``, ``refused``, ``reset`` … or None for a success."""
        if self.error is None:
            return None
        if self.error is ErrorKind.STATUS:
            return f"http_{self.status}"
        return str(self.error.value)


@dataclass(frozen=True)
class LoadResult:
    """All steps of a run, in order."""

    target: str
    engine: Engine
    connections: int
    steps: tuple[StepResult, ...]
    note: str = ""
    """A caveat the report must carry (e.g. wrk's latencies are not corrected)."""

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form."""
        return {
            "target": self.target,
            "engine": self.engine.value,
            "connections": self.connections,
            "note": self.note,
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass(frozen=True)
class StepProgress:
    """A progress tick (about once a second) for the live display."""

    step_index: int
    steps_total: int
    elapsed_s: float
    step_duration_s: float
    rate_asked_rps: float
    rate_achieved_rps: float
    """Responses per second since the step started."""
    sent: int
    completed: int
    errors: int
    in_flight: int
    p50_ms: float
    p99_ms: float
    """Since the step started, ms (``window`` has the last second alone)."""
    window: WindowStats | None = None


ProgressCallback = Callable[[StepProgress], None]


class OutcomeLog:
    """Per-request outcomes from a chosen moment on (e.g. the SIGTERM of a shutdown test).

    Mutable on purpose: the engine appends while the orchestrator decides when to start
    recording. Nothing is kept before :meth:`record_from`, and at most ``capacity``
    outcomes are kept after it (``dropped`` counts the rest), so a long drill cannot grow
    it without bound.
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self.dropped = 0
        self._since: float | None = None
        self._items: list[RequestOutcome] = []

    def record_from(self, t_s: float) -> None:
        """Keep every outcome that finishes at or after ``t_s`` (clock seconds)."""
        self._since = t_s

    def add(self, outcome: RequestOutcome) -> None:
        """Called by the engine for every finished request."""
        if self._since is None or outcome.done_s < self._since:
            return
        if len(self._items) >= self.capacity:
            self.dropped += 1
            return
        self._items.append(outcome)

    def outcomes(self) -> tuple[RequestOutcome, ...]:
        """The outcomes kept so far, in completion order."""
        return tuple(self._items)


def parse_duration(text: str) -> float:
    """``'40s'``, ``'500ms'``, ``'2m'``, ``'1m30s'`` or a bare number → seconds (> 0), by
    the one duration parser (:func:`killproof.sources.deploy.quantity.parse_duration_s`)."""
    raw = text.strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parse_duration_s(raw)
        except QuantityError:
            raise InputError(f"bad duration {text!r} (use e.g. 500ms, 40s, 2m, 1m30s)") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"duration {text!r} must be positive")
    return seconds


def _parse_rate(text: str, spec: str) -> float:
    raw = text.strip().lower().removesuffix("rps").removesuffix("/s")
    try:
        rate = float(raw)
    except ValueError:
        raise InputError(f"bad rate {text!r} in {spec!r} (requests per second)") from None
    if not math.isfinite(rate) or rate <= 0:
        raise InputError(f"rate {text!r} in {spec!r} must be positive")
    return rate


def parse_rate_spec(text: str, duration_s: float, ramp_step_s: float = 5.0) -> tuple[LoadStep, ...]:
    """Parse a ``--rate``/``--ramp`` value into steps.

    - ``200`` or ``100,200,400``: one open-loop step per rate, each ``duration_s`` long; an
      item may carry its own duration, ``100/10s``.
    - ``max``: a closed-loop step (as fast as the connections allow).
    - ``50..2000/30s``: a linear ramp from 50 to 2000 req/s over 30 s, run as constant-rate
      steps of about ``ramp_step_s`` seconds each, so every step can be judged on its own.
    """
    spec = text.strip()
    if not spec:
        raise InputError("empty rate specification")
    if ".." in spec:
        return _parse_ramp(spec, ramp_step_s)
    steps: list[LoadStep] = []
    for item in spec.split(","):
        rate_text, _, dur_text = item.partition("/")
        dur = parse_duration(dur_text) if dur_text else duration_s
        if rate_text.strip().lower() == "max":
            steps.append(LoadStep(0.0, dur, LoadModel.CLOSED))
        else:
            steps.append(LoadStep(_parse_rate(rate_text, spec), dur))
    return tuple(steps)


def _parse_ramp(spec: str, ramp_step_s: float) -> tuple[LoadStep, ...]:
    rates, slash, dur_text = spec.partition("/")
    if not slash:
        raise InputError(f"ramp {spec!r} needs a total time, e.g. 50..2000/30s")
    low_text, _, high_text = rates.partition("..")
    low, high = _parse_rate(low_text, spec), _parse_rate(high_text, spec)
    total = parse_duration(dur_text)
    count = max(2, round(total / ramp_step_s))
    step_s = total / count
    return tuple(
        LoadStep(round(low + (high - low) * i / (count - 1), 3), step_s) for i in range(count)
    )


@dataclass(frozen=True)
class CheckedTarget:
    """A base URL that passed :func:`resolve_target`, and the address it was checked at."""

    url: str
    """``scheme://host:port`` as given, without a trailing slash."""
    host: str
    """The name as given: the ``Host`` header (and the TLS server name)."""
    port: int
    address: str
    """The IP address the name resolved to when checked: every connection goes here."""

    @property
    def authority(self) -> str:
        """``host:port`` (``[::1]:port`` for an IPv6 literal): the ``Host`` header value."""
        return authority(self.host, self.port)


def authority(host: str, port: int) -> str:
    """The ``Host`` header value for ``host`` and ``port``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


Resolver = Callable[[str], list[str]]
"""A host name → its IP addresses (tests pass their own)."""


def system_resolver(host: str) -> list[str]:
    """The addresses ``getaddrinfo`` gives for ``host`` (empty when it fails)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]).split("%")[0] for info in infos]


def resolve_target(
    target: str, allow_remote: bool, resolve: Resolver = system_resolver
) -> CheckedTarget:
    """Validate the base URL and resolve its host exactly once.

    Refuses anything but loopback unless ``allow_remote``: a name passes only when every
    address it resolves to is loopback (so ``localhost`` passes and a name pointing
    elsewhere does not). The first address is returned for every later connection, so a
    name that resolves differently the second time cannot redirect the load.
    """
    url = check_url(target)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = resolve(host)
    if not addresses:
        raise InputError(f"cannot resolve {host}")
    if not allow_remote and not all(_is_loopback(a) for a in addresses):
        raise InputError(
            f"refusing to send load to {host}: not a loopback address "
            "(pass --allow-remote to load a remote service)"
        )
    return CheckedTarget(url, host, port, addresses[0])


def checked_address(target: str, address: str, allow_remote: bool) -> CheckedTarget:
    """``target`` with the ``address`` it was already checked at (no resolution): the
    address must be an IP address, and loopback unless ``allow_remote``."""
    url = check_url(target)
    parts = urlsplit(url)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise InputError(f"{address!r} is not an IP address") from None
    if not allow_remote and not ip.is_loopback:
        raise InputError(f"refusing to send load to {address}: not a loopback address")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return CheckedTarget(url, parts.hostname or "", port, str(ip))


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_target(target: str, allow_remote: bool) -> str:
    """Validate the base URL; refuse anything but loopback unless ``allow_remote``.

    Returns the URL without a trailing slash. Resolves host names (so ``localhost`` passes
    and a name pointing elsewhere does not); use :func:`resolve_target` to also keep the
    address it was checked at.
    """
    return resolve_target(target, allow_remote).url


def check_url(target: str) -> str:
    """The base URL's form alone (scheme, host, port, no path): without a trailing slash."""
    parts = urlsplit(target)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InputError(f"target {target!r} is not an http:// or https:// URL")
    try:
        _ = parts.port
    except ValueError:
        raise InputError(f"target {target!r} has a bad port") from None
    if parts.path not in {"", "/"} or parts.query:
        raise InputError(f"target {target!r} must be a base URL; put paths in --request")
    return f"{parts.scheme}://{parts.netloc}"
