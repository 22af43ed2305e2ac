"""The shutdown test: stop signal under traffic, then watch what a client would see.

While a few client threads keep sending requests, the drill sends the stop signal and
polls three things every 20 ms: readiness (does the probe fail?), the listener (does a
connect get refused?), and the process (has it exited, with what status?). When the grace
period runs out it sends SIGQUIT first, so the Go runtime prints every goroutine's stack
to stderr (that is where shutdown hung), then SIGKILL, as a kubelet would.

Units: seconds (relative to the signal in the timeline), milliseconds nowhere.
"""

from __future__ import annotations

import enum
import http.client
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from killproof.clock import REAL_CLOCK, Clock
from killproof.drill.load_plan import authority
from killproof.facts.drill import Exit, ShutdownTimeline


class Outcome(enum.Enum):
    """What one client request ended with."""

    OK = "ok"
    HTTP_5XX = "http-5xx"
    RESET = "reset"
    """Connection reset or closed mid-request (the client saw no full answer)."""
    REFUSED = "refused"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class RequestRecord:
    """One request: when it was sent and ended (monotonic seconds) and its outcome."""

    sent_s: float
    done_s: float
    outcome: Outcome
    detail: str = ""


class ShutdownTarget(Protocol):
    """What the test needs from the sandbox."""

    def send(self, sig: signal.Signals) -> None:
        """Send a signal to the service."""

    def poll(self) -> Exit | None:
        """How the service ended, or None while it runs."""

    def stderr_text(self) -> str:
        """The service's stderr so far."""


def classify(exc: BaseException) -> Outcome:
    """The outcome a client error stands for."""
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.REFUSED
    if isinstance(exc, TimeoutError | socket.timeout):
        return Outcome.TIMEOUT
    return Outcome.RESET


class ClientTraffic:
    """``workers`` threads sending ``path`` over keep-alive connections until stopped."""

    def __init__(
        self,
        port: int,
        path: str,
        workers: int = 4,
        host: str = "127.0.0.1",
        pause_s: float = 0.01,
        address: str = "",
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.port, self.path, self.host, self.pause_s = port, path, host, pause_s
        self.clock = clock
        self.address = address or host
        """Where connections go (the address ``host`` was checked at); ``host`` is the
        ``Host`` header."""
        self.records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), name=f"drill-client-{i}", daemon=True)
            for i in range(workers)
        ]
        self._held: tuple[socket.socket, float] | None = None
        self._finishers: list[threading.Thread] = []

    def start(self) -> None:
        """Start the client threads."""
        for t in self.threads:
            t.start()

    def hold(self) -> bool:
        """Open one more connection and send a request without its final blank line: the
        server has started reading it, so a request is certainly in flight when the signal
        lands (a ~1 ms handler at 200 req/s is in flight only by chance). :meth:`release`
        completes it; a draining server answers it, one that dies of the signal drops it."""
        path = self.path.replace("{n}", "0")
        head = f"GET {path} HTTP/1.1\r\nHost: {authority(self.host, self.port)}\r\n"
        try:
            sock = socket.create_connection((self.address, self.port), timeout=2.0)
            sock.sendall((head + "Connection: close\r\n").encode())
        except OSError:
            return False
        self._held = (sock, self.clock.monotonic())
        return True

    def release(self, timeout_s: float) -> None:
        """Finish the held request in the background; its outcome is recorded like the rest."""
        if self._held is None:
            return
        sock, sent = self._held
        self._held = None
        t = threading.Thread(target=self._finish, args=(sock, sent, timeout_s), daemon=True)
        self._finishers.append(t)
        t.start()

    def _finish(self, sock: socket.socket, sent: float, timeout_s: float) -> None:
        why = "held in flight across the signal"
        try:
            sock.settimeout(timeout_s)
            sock.sendall(b"\r\n")
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            resp.read()
            outcome = Outcome.HTTP_5XX if resp.status >= 500 else Outcome.OK
            detail = f"HTTP {resp.status}, {why}"
        except (OSError, http.client.HTTPException) as exc:
            outcome, detail = classify(exc), f"{type(exc).__name__}, {why}"
        finally:
            sock.close()
        if outcome is Outcome.REFUSED:
            outcome = Outcome.RESET  # it was connected: a refusal now is a drop
        with self._lock:
            self.records.append(RequestRecord(sent, self.clock.monotonic(), outcome, detail))

    def stop(self) -> list[RequestRecord]:
        """Stop and return every record."""
        self._stop.set()
        self.release(timeout_s=2.0)
        for t in (*self.threads, *self._finishers):
            t.join(timeout=5)
        with self._lock:
            return list(self.records)

    def _once(self, conn: http.client.HTTPConnection, n: int) -> tuple[Outcome, str]:
        conn.request(
            "GET",
            self.path.replace("{n}", str(n)),
            headers={"Host": authority(self.host, self.port)},
        )
        resp = conn.getresponse()
        resp.read()
        if resp.status >= 500:
            return Outcome.HTTP_5XX, f"HTTP {resp.status}"
        return Outcome.OK, f"HTTP {resp.status}"

    def _run(self, worker: int) -> None:
        conn: http.client.HTTPConnection | None = None
        n = worker * 1_000_000
        while not self._stop.is_set():
            n += 1
            sent = self.clock.monotonic()
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(self.address, self.port, timeout=2.0)
            try:
                outcome, detail = self._once(conn, n)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = None
                outcome, detail = classify(exc), type(exc).__name__
                if reused and outcome is Outcome.RESET:
                    # A keep-alive connection the server closed while idle: every HTTP
                    # client retries that once on a new connection (RFC 9112 §9.3.1).
                    conn = http.client.HTTPConnection(self.address, self.port, timeout=2.0)
                    try:
                        outcome, detail = self._once(conn, n)
                    except (OSError, http.client.HTTPException) as exc2:
                        conn.close()
                        conn = None
                        outcome, detail = classify(exc2), type(exc2).__name__
            with self._lock:
                self.records.append(RequestRecord(sent, self.clock.monotonic(), outcome, detail))
            if outcome is not Outcome.OK:
                self.clock.pause(self.pause_s)  # do not spin on a closed port
            elif self.pause_s:
                self.clock.pause(self.pause_s)
        if conn is not None:
            conn.close()


@dataclass(frozen=True)
class TrafficSummary:
    """Client outcomes of requests that ended after the signal."""

    total: int
    ok: int
    failed: int
    refused: int
    examples: tuple[str, ...]


ENDPOINT_PROPAGATION_S = 2.0
"""How long a load balancer may keep routing to a pod after SIGTERM (endpoint removal is
asynchronous; one to three seconds on a healthy cluster)."""


@dataclass(frozen=True)
class DrainWindow:
    """When the signal was sent and what the service did (monotonic seconds)."""

    signal_at: float
    grace_s: float
    closed_at: float | None
    """When the listener closed or the process exited (None: neither was seen)."""
    drained: bool
    """Readiness failed before the listener closed."""

    def refusal_expected(self, sent_s: float) -> bool:
        """A refused connect at ``sent_s`` is the normal end of a drain, not a drop, when
        the listener closed after readiness failed, or only after load balancers had had
        time to stop routing (the propagation window, at most the grace period)."""
        if self.closed_at is None or sent_s < self.closed_at - 0.05:
            return False
        window = min(ENDPOINT_PROPAGATION_S, self.grace_s)
        return self.drained or self.closed_at - self.signal_at >= window


def summarize(records: Sequence[RequestRecord], w: DrainWindow) -> TrafficSummary:
    """Count requests that ended after the signal: ok, failed (dropped), refused (expected).

    Only requests sent before the grace period ended count: after it a real load balancer
    has long stopped routing here, so later requests are artefacts of the drill. Every
    reset, timeout or 5xx is a failure; a refusal is one unless :meth:`DrainWindow.
    refusal_expected`.
    """
    ok = failed = refused = 0
    examples: list[str] = []
    for r in records:
        if r.done_s < w.signal_at or r.sent_s > w.signal_at + w.grace_s:
            continue
        if r.outcome is Outcome.OK:
            ok += 1
        elif r.outcome is Outcome.REFUSED and w.refusal_expected(r.sent_s):
            refused += 1
        else:
            failed += 1
            if len(examples) < 5:
                examples.append(f"+{r.done_s - w.signal_at:.3f} s {r.outcome.value} ({r.detail})")
    return TrafficSummary(ok + failed + refused, ok, failed, refused, tuple(examples))


def extract_goroutine_dump(stderr: str) -> str:
    """The Go runtime's SIGQUIT dump from stderr (from ``SIGQUIT: quit`` or the first
    ``goroutine N [``), or an empty string when there is none."""
    for marker in ("SIGQUIT: quit", "goroutine "):
        i = stderr.find(marker)
        if i >= 0:
            return stderr[i:]
    return ""


@dataclass(frozen=True)
class ShutdownPlan:
    """The stop signal, the grace period and how long to wait after SIGQUIT (seconds)."""

    signal: signal.Signals = signal.SIGTERM
    grace_s: float = 30.0
    quit_wait_s: float = 2.0
    poll_s: float = 0.02
    warmup_s: float = 0.3
    """Traffic before the signal, so requests are in flight when it lands."""
    hold_s: float = 0.2
    """The held request (:meth:`ClientTraffic.hold`) is completed this long after the
    signal, or as soon as the process has exited."""


def run_shutdown(
    target: ShutdownTarget,
    plan: ShutdownPlan,
    *,
    ready_check: Callable[[], bool],
    listener_open: Callable[[], bool],
    traffic: ClientTraffic | None,
    clock: Clock = REAL_CLOCK,
) -> ShutdownTimeline:
    """Signal ``target`` under ``traffic``; return what happened within (and after) grace."""
    if traffic is not None:
        traffic.start()
        clock.pause(plan.warmup_s)
        if traffic.hold():
            clock.pause(plan.poll_s)  # let the server read the held request's first lines
    stderr_before = len(target.stderr_text())
    t0 = clock.monotonic()
    target.send(plan.signal)
    ready_failed: float | None = None
    closed: float | None = None
    ended: Exit | None = None
    exit_after: float | None = None
    while True:
        now = clock.monotonic() - t0
        ended = target.poll()
        if traffic is not None and (ended is not None or now >= plan.hold_s):
            traffic.release(timeout_s=max(1.0, min(5.0, plan.grace_s - now)))
        if ended is not None:
            exit_after = now
            break
        if now >= plan.grace_s:
            break
        if closed is None and not listener_open():
            closed = clock.monotonic() - t0
        if ready_failed is None:
            if closed is not None:
                ready_failed = closed  # failing by refusal is not failing first
            elif not ready_check():
                # A probe refused because the listener just closed is not a drain either.
                ready_failed = clock.monotonic() - t0
                if not listener_open():
                    closed = ready_failed
        clock.pause(plan.poll_s)
    within = ended is not None
    quit_sent = kill_sent = False
    if ended is None:
        target.send(signal.SIGQUIT)
        quit_sent = True
        deadline = clock.monotonic() + plan.quit_wait_s
        while ended is None and clock.monotonic() < deadline:
            clock.pause(plan.poll_s)
            ended = target.poll()
        if ended is None:
            target.send(signal.SIGKILL)
            kill_sent = True
            deadline = clock.monotonic() + 5.0
            while ended is None and clock.monotonic() < deadline:
                clock.pause(plan.poll_s)
                ended = target.poll()
        exit_after = clock.monotonic() - t0 if ended is not None else None
    records = traffic.stop() if traffic is not None else []
    closed_or_exit = closed if closed is not None else exit_after
    drained = ready_failed is not None and (closed is None or ready_failed < closed)
    window = DrainWindow(
        t0, plan.grace_s, None if closed_or_exit is None else t0 + closed_or_exit, drained
    )
    summary = summarize(records, window)
    dump = extract_goroutine_dump(target.stderr_text()[stderr_before:]) if quit_sent else ""
    return ShutdownTimeline(
        clients=len(traffic.threads) if traffic is not None else 0,
        signal=plan.signal.name,
        grace_s=plan.grace_s,
        exited=ended is not None,
        exit_after_s=exit_after,
        exit=ended,
        within_grace=within,
        readiness_failed_after_s=ready_failed,
        listener_closed_after_s=closed,
        requests_after_signal=summary.total,
        ok_after_signal=summary.ok,
        failed_after_signal=summary.failed,
        refused_after_signal=summary.refused,
        failure_examples=summary.examples,
        sigquit_sent=quit_sent,
        sigkill_sent=kill_sent,
        goroutine_dump=dump,
    )


def tcp_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when ``host:port`` accepts a connection (refused or unreachable → False)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except TimeoutError:
        return True  # backlog full but still listening: not closed
    except OSError:
        return False
