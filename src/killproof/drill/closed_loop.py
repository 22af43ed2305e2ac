"""A closed-loop ("max") step on one ``select.epoll`` loop, for a worker thread.

On asyncio the lean client costs ≈ 40 µs of CPU a request (a future, a callback and a
task wake-up each), which held a closed-loop step to a third of wrk's rate. A closed loop
needs none of that: each connection sends its next request as soon as the previous answer
is in, so one epoll loop over non-blocking keep-alive sockets, with the request bytes
encoded once and the same response framing as :mod:`killproof.drill.http1`, does it for
≈ 18 µs (bench/load_vs_wrk.py: ≈ 56,000 requests per CPU-second against ≈ 25,000).

The loop knows sockets and framing only; what to send next, and what a finished request
counts for, belongs to the step (:class:`ClosedLoopStep`, implemented by
:class:`killproof.drill.load_step.StepRun`). Failures have the engine's error kinds: ``refused``,
``reset``, ``disconnected``, ``timeout``, ``other``; a status >= 400 is ``status``.
Plain ``http://`` only, like the lean client.
"""

from __future__ import annotations

import errno
import select
import socket
from collections.abc import Callable
from typing import Protocol

from killproof.drill.http1 import RESET_ERRNOS, ResponseFramer, encode_request
from killproof.drill.load_plan import ErrorKind
from killproof.drill.request_source import RequestTemplate

# How often in-flight requests are checked against their deadline, seconds: requests take
# milliseconds and timeouts are seconds, so a sweep per request would be waste.
_SWEEP_S = 0.01
# Below glibc's mmap threshold (128 KiB): a larger buffer costs an mmap per recv.
_RECV_BYTES = 64 * 1024
_IN = select.EPOLLIN
_OUT = select.EPOLLOUT


class ClosedLoopStep(Protocol):
    """What the loop asks of the step it runs (all calls come from the loop's thread)."""

    def next_request(self, now: float) -> tuple[int, RequestTemplate] | None:
        """Request number and template to send at ``now`` (seconds), or None to send no more."""
        ...

    def finished(
        self, n: int, sent_s: float, done_s: float, status: int, error: ErrorKind | None
    ) -> None:
        """Request ``n`` ended: HTTP status (0 when no response came) and its error kind."""
        ...

    def tick(self) -> None:
        """Called about every ``tick_s`` seconds (for progress windows)."""
        ...


class _Connection:
    """One keep-alive connection's state; ``sock`` is None between connections."""

    __slots__ = ("busy", "connecting", "framer", "n", "out", "sent_s", "sock")

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.framer = ResponseFramer()
        self.busy = False
        self.connecting = False
        self.out = b""
        self.n = 0
        self.sent_s = 0.0


class ClosedLoop:
    """``connections`` keep-alive connections to ``host:port``, each one request at a time.

    ``timeout_s`` bounds one request, connect included; ``monotonic`` is the clock
    (seconds) every time the step sees is read from. :meth:`run` blocks until the step sends no more and every request has ended (each is
    bounded by ``timeout_s``, connect included), then closes the connections. ``host`` is
    an IP address in a drill (the one the target was checked at); ``authority`` is the
    ``Host`` header (``host:port`` when empty).
    """

    def __init__(
        self,
        host: str,
        port: int,
        connections: int,
        timeout_s: float,
        tick_s: float,
        monotonic: Callable[[], float],
        authority: str = "",
    ) -> None:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        self._family, self._address = family, address
        self._authority = authority or (f"{host}:{port}" if ":" not in host else f"[{host}]:{port}")
        self._timeout_s, self._tick_s = timeout_s, tick_s
        self._monotonic = monotonic
        self._connections = [_Connection() for _ in range(connections)]
        self._by_fd: dict[int, _Connection] = {}
        self._busy = 0
        # Failures found while starting a request are reported from the main loop, not
        # at once: a refused connect would otherwise recurse into the next start.
        self._failed: list[tuple[_Connection, ErrorKind]] = []
        self._encoded: dict[int, bytes] = {}
        self._epoll = select.epoll()

    def run(self, step: ClosedLoopStep) -> None:
        """Drive ``step`` until it sends no more and nothing is in flight."""
        try:
            self._run(step)
        finally:
            for connection in self._connections:
                self._close(connection)
            self._epoll.close()

    def _run(self, step: ClosedLoopStep) -> None:
        monotonic, poll = self._monotonic, self._epoll.poll
        by_fd = self._by_fd
        now = monotonic()
        for connection in self._connections:
            self._start(connection, step, now)
        next_tick = now + self._tick_s
        next_sweep = now + _SWEEP_S
        while self._busy or self._failed:
            wait = 0.0 if self._failed else max(0.0, min(next_tick, next_sweep) - now)
            events = poll(wait)
            for fd, _ in events:
                ready = by_fd.get(fd)
                if ready is None:
                    continue
                if ready.connecting or ready.out:
                    self._writable(ready, step)
                elif ready.busy:
                    self._readable(ready, step)
                else:  # bytes or a close on an idle connection: its framing is gone
                    self._close(ready)
            now = monotonic()
            if self._failed:
                failed, self._failed = self._failed, []
                for connection, kind in failed:
                    self._end(connection, step, now, 0, kind)
            if now >= next_sweep:
                self._expire(step, now)
                next_sweep = now + _SWEEP_S
            if now >= next_tick:
                step.tick()
                next_tick = max(next_tick + self._tick_s, now)

    # -- one request -------------------------------------------------------------------
    def _start(self, connection: _Connection, step: ClosedLoopStep, now: float) -> None:
        picked = step.next_request(now)
        if picked is None:
            return
        n, request = picked
        data = self._encoded.get(id(request))
        if data is None:
            data = self._encode(request)
        connection.n, connection.sent_s, connection.busy = n, now, True
        connection.framer.start(request.method == "HEAD")
        self._busy += 1
        if connection.sock is None:
            self._connect(connection, data)
        else:
            self._send(connection, data)

    def _encode(self, request: RequestTemplate) -> bytes:
        body = request.body.encode() if request.body else b""
        data = encode_request(request.method, request.path, self._authority, request.headers, body)
        if request.render(0) is request:
            # A template without {n} renders to itself: keep its bytes. Keyed by id(): the
            # templates live as long as the request source, so no other object takes it.
            self._encoded[id(request)] = data
        return data

    def _connect(self, connection: _Connection, data: bytes) -> None:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(self._address)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self._failed.append((connection, _errno_kind(code)))
            return
        connection.sock, connection.connecting, connection.out = sock, True, data
        self._by_fd[sock.fileno()] = connection
        self._epoll.register(sock.fileno(), _OUT)

    def _send(self, connection: _Connection, data: bytes) -> None:
        assert connection.sock is not None
        try:
            sent = connection.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._failed.append((connection, _errno_kind(exc.errno)))
            return
        if sent < len(data):  # the socket buffer is full: the rest goes when it drains
            connection.out = data[sent:]
            self._epoll.modify(connection.sock.fileno(), _IN | _OUT)

    def _writable(self, connection: _Connection, step: ClosedLoopStep) -> None:
        sock = connection.sock
        assert sock is not None
        if connection.connecting:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._end(connection, step, self._monotonic(), 0, _errno_kind(code))
                return
            connection.connecting = False
        data, connection.out = connection.out, b""
        self._epoll.modify(sock.fileno(), _IN)
        self._send(connection, data)

    def _readable(self, connection: _Connection, step: ClosedLoopStep) -> None:
        sock = connection.sock
        assert sock is not None
        try:
            data = sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            self._end(connection, step, self._monotonic(), 0, _errno_kind(exc.errno))
            return
        framer = connection.framer
        if not data:
            if framer.reads_to_eof:  # the body ran to the end of the connection
                self._close(connection)
                self._end(connection, step, self._monotonic(), framer.status, None)
            else:
                self._end(connection, step, self._monotonic(), 0, ErrorKind.DISCONNECTED)
            return
        try:
            complete = framer.feed(data)
        except ValueError:
            self._end(connection, step, self._monotonic(), 0, ErrorKind.OTHER)
            return
        if complete:
            if not framer.keep_alive:
                self._close(connection)
            status = framer.status
            error = ErrorKind.STATUS if status >= 400 else None
            self._end(connection, step, self._monotonic(), status, error)

    def _end(
        self,
        connection: _Connection,
        step: ClosedLoopStep,
        now: float,
        status: int,
        error: ErrorKind | None,
    ) -> None:
        """Report the request on ``connection`` and start the next one there."""
        if status == 0:
            self._close(connection)  # mid-response or never connected: not reusable
        connection.busy = False
        self._busy -= 1
        step.finished(connection.n, connection.sent_s, now, status, error)
        self._start(connection, step, now)

    def _expire(self, step: ClosedLoopStep, now: float) -> None:
        deadline = now - self._timeout_s
        for connection in self._connections:
            if connection.busy and connection.sent_s <= deadline:
                self._end(connection, step, now, 0, ErrorKind.TIMEOUT)

    def _close(self, connection: _Connection) -> None:
        sock, connection.sock = connection.sock, None
        connection.connecting, connection.out = False, b""
        if sock is not None:
            del self._by_fd[sock.fileno()]
            self._epoll.unregister(sock.fileno())
            sock.close()


def _errno_kind(code: int | None) -> ErrorKind:
    if code == errno.ECONNREFUSED:
        return ErrorKind.REFUSED
    if code in RESET_ERRNOS:
        return ErrorKind.RESET
    if code == errno.ETIMEDOUT:
        return ErrorKind.TIMEOUT
    return ErrorKind.OTHER
