"""A lean HTTP/1.1 keep-alive client connection on asyncio, for the load engine.

aiohttp spends most of a loopback request in its own machinery (≈ 5k req/s per core
here); a protocol that writes the request bytes and parses just the status line, the
framing headers and the body framing does ≈ 4× that, which is what lets a one-thread
Python engine drive a Go service at the rates a drill needs. It speaks plain ``http://``
only (drills are loopback); the engine uses aiohttp for ``https://``.

Failures map one-to-one onto the load engine's error kinds, which the shutdown test
depends on: ``refused`` (connect refused), ``reset`` (RST), ``disconnected`` (the server
closed the connection before answering), ``timeout``, ``other``.
"""

from __future__ import annotations

import asyncio
import errno

from killproof.drill.load_plan import ErrorKind

MAX_HEAD_BYTES = 64 * 1024
# errno values that mean the peer reset the connection (also read by drill.closed_loop).
RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


class Http1Error(Exception):
    """A request that got no complete response, with the reason as an :class:`ErrorKind`."""

    def __init__(self, kind: ErrorKind, detail: str = "") -> None:
        super().__init__(detail or kind.value)
        self.kind = kind


def encode_request(
    method: str, path: str, host: str, headers: tuple[tuple[str, str], ...], body: bytes
) -> bytes:
    """The request's bytes (``Host``, ``Content-Length`` for a body, then the caller's headers)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: killproof"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ResponseFramer:
    """Frames one response at a time from bytes as they arrive; no IO (no pipelining).

    Used by the asyncio protocol below and by the epoll loop of
    :mod:`killproof.drill.closed_loop`. Call :meth:`start` before each request, then
    :meth:`feed` until it returns True; ``status`` and ``keep_alive`` describe the response.
    """

    def __init__(self) -> None:
        self.status = 0
        self.keep_alive = True
        self._buf = bytearray()
        self._head_only = False
        self._mode = ""  # "" (reading head), "length", "chunked", "close"
        self._remaining = 0

    def start(self, head_only: bool) -> None:
        """Expect the response to a new request (``head_only`` for HEAD: no body follows)."""
        self._head_only = head_only
        self._mode, self.status, self.keep_alive = "", 0, True

    @property
    def reads_to_eof(self) -> bool:
        """True when the body runs to the end of the connection (no length, not chunked)."""
        return self._mode == "close"

    def feed(self, data: bytes) -> bool:
        """Add received bytes; True once the response is complete. ValueError if malformed."""
        self._buf += data
        while True:
            if self._mode == "":
                if not self._parse_head():
                    return False
            elif self._mode == "length":
                take = min(self._remaining, len(self._buf))
                del self._buf[:take]
                self._remaining -= take
                return not self._remaining
            elif self._mode == "chunked":
                return self._parse_chunks()
            else:  # "close": everything until EOF is body
                self._buf.clear()
                return False

    def _parse_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD_BYTES:
                raise ValueError("response head too large")
            return False
        head = bytes(self._buf[:end])
        del self._buf[: end + 4]
        line_end = head.find(b"\r\n")
        if line_end < 0:
            line_end = len(head)
        version, _, rest = head[:line_end].partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
            raise ValueError(f"bad status line {head[:40]!r}")
        status = int(rest[:3])
        if status < 100:
            raise ValueError(f"bad status {status}")
        if 100 <= status < 200:
            return True  # an interim response: the real one follows
        self.status = status
        # Searching the lowered header block costs a few C calls; splitting it into
        # lines costs a Python loop per header, which is most of a response's parse.
        fields = head[line_end:].lower()
        length_text = _field(fields, b"\r\ncontent-length:")
        encoding = _field(fields, b"\r\ntransfer-encoding:")
        connection = _field(fields, b"\r\nconnection:")
        self.keep_alive = version == b"HTTP/1.1"
        if connection is not None:
            self.keep_alive = connection != b"close" and (
                self.keep_alive or connection == b"keep-alive"
            )
        if self._head_only or status in {204, 304}:
            self._mode, self._remaining = "length", 0
        elif encoding is not None and b"chunked" in encoding:
            self._mode, self._remaining = "chunked", -1
        elif length_text is not None:
            length = int(length_text)
            if length < 0:
                raise ValueError("negative Content-Length")
            self._mode, self._remaining = "length", length
        else:
            self._mode, self.keep_alive = "close", False
        return True

    def _parse_chunks(self) -> bool:
        """Consume chunks; True once the last chunk and the trailers are in."""
        while True:
            if self._remaining == -1:  # expecting a size line
                line_end = self._buf.find(b"\r\n")
                if line_end < 0:
                    return False
                size = int(bytes(self._buf[:line_end]).split(b";")[0].strip(), 16)
                del self._buf[: line_end + 2]
                self._remaining = size + 2 if size else -2
            if self._remaining == -2:  # after the last chunk: trailers up to an empty line
                line_end = self._buf.find(b"\r\n")
                if line_end < 0:
                    return False
                del self._buf[: line_end + 2]
                if line_end == 0:
                    return True
                continue
            if len(self._buf) < self._remaining:
                return False
            del self._buf[: self._remaining]
            self._remaining = -1


def _field(fields: bytes, name: bytes) -> bytes | None:
    """The stripped value of the last ``name`` line in a lowered header block, or None."""
    at = fields.rfind(name)
    if at < 0:
        return None
    start = at + len(name)
    stop = fields.find(b"\r\n", start)
    return fields[start : stop if stop >= 0 else len(fields)].strip()


class _ResponseReader(asyncio.Protocol):
    """One connection on asyncio; a :class:`ResponseFramer` parses its responses."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._framer = ResponseFramer()
        self._waiter: asyncio.Future[int] | None = None

    # -- asyncio callbacks -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not data:
            return
        if self._waiter is None:
            # Bytes nobody asked for (a late answer to a timed-out request, a 408 before an
            # idle close): the connection's framing can no longer be trusted.
            self.abort()
            return
        try:
            complete = self._framer.feed(data)
        except ValueError as exc:
            self._fail(Http1Error(ErrorKind.OTHER, f"bad response: {exc}"))
            self.abort()
            return
        if complete:
            self._finish()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None:
            return
        if exc is None and self._framer.reads_to_eof:
            self._finish()  # the body ran to the end of the connection, as announced
            return
        self._fail(Http1Error(*connection_lost_kind(exc)))

    # -- requests ----------------------------------------------------------------------
    def send(self, data: bytes, head_only: bool) -> asyncio.Future[int]:
        """Write a request; the future gets the response status (or an :class:`Http1Error`)."""
        assert self.transport is not None and self._waiter is None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._framer.start(head_only)
        self.transport.write(data)
        return self._waiter

    def expire(self) -> None:
        """The request timed out: fail it and drop the connection (its answer may still come)."""
        self._fail(Http1Error(ErrorKind.TIMEOUT, "no response in time"))
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: Http1Error) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _finish(self) -> None:
        waiter, self._waiter = self._waiter, None
        if not self._framer.keep_alive and self.transport is not None:
            self.closed = True
            self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(self._framer.status)


def connection_lost_kind(exc: BaseException | None) -> tuple[ErrorKind, str]:
    """The error kind (and detail) of a connection lost mid-response; None means EOF."""
    if isinstance(exc, OSError) and exc.errno in RESET_ERRNOS:
        return ErrorKind.RESET, str(exc)
    if exc is None:
        return ErrorKind.DISCONNECTED, "server closed the connection"
    return ErrorKind.OTHER, str(exc)


class Http1Connection:
    """One keep-alive connection to ``host:port``, reopened when the server closes it."""

    def __init__(self, host: str, port: int, timeout_s: float, connect_to: str = "") -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.connect_to = connect_to or host
        """Where the connection goes: the address ``host`` was checked at (an IP address
        connects without resolving anything again)."""
        self.authority = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        """The ``Host`` header value."""
        self._reader: _ResponseReader | None = None
        # One lazily re-armed timer per connection instead of one per request: requests
        # take milliseconds and the timeout is seconds, so it rarely fires.
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight: _ResponseReader | None = None
        self._deadline = 0.0

    async def request(
        self, method: str, path: str, headers: tuple[tuple[str, str], ...] = (), body: bytes = b""
    ) -> int:
        """Send one request and return the response status; raise :class:`Http1Error`."""
        data = encode_request(method, path, self.authority, headers, body)
        return await self.send(data, head_only=method == "HEAD")

    async def send(self, data: bytes, head_only: bool = False) -> int:
        """Send an already encoded request (see :func:`encode_request`); return its status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        reader = self._reader
        if reader is None or reader.closed:
            reader = await self._connect(deadline)
        waiter = reader.send(data, head_only)
        self._in_flight, self._deadline = reader, deadline
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._check_deadline)
        try:
            return await waiter
        except asyncio.CancelledError:
            reader.abort()  # mid-response: the connection cannot be reused
            raise
        finally:
            self._in_flight = None

    def _check_deadline(self) -> None:
        """Timer callback: expire the request in flight if it is late, else re-arm."""
        self._timer = None
        reader = self._in_flight
        if reader is None:
            return  # idle: the next request arms a new timer
        loop = asyncio.get_running_loop()
        if loop.time() >= self._deadline:
            reader.expire()
        else:
            self._timer = loop.call_at(self._deadline, self._check_deadline)

    async def _connect(self, deadline: float) -> _ResponseReader:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                _, reader = await loop.create_connection(
                    _ResponseReader, self.connect_to, self.port
                )
        except TimeoutError:
            raise Http1Error(ErrorKind.TIMEOUT, "connect timed out") from None
        except ConnectionRefusedError as exc:
            raise Http1Error(ErrorKind.REFUSED, str(exc)) from None
        except OSError as exc:
            kind = ErrorKind.RESET if exc.errno in RESET_ERRNOS else ErrorKind.OTHER
            raise Http1Error(kind, str(exc)) from None
        self._reader = reader
        return reader

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._reader is not None and self._reader.transport is not None:
            self._reader.transport.close()
        self._reader = None
