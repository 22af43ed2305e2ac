"""The lean HTTP/1.1 client: response framing on a real Go server and split anywhere."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.drill.http1 import Http1Connection, Http1Error, _ResponseReader, encode_request
from killproof.drill.load_plan import ErrorKind


def test_framing_on_one_keep_alive_connection(load_server_port: int) -> None:
    async def go() -> list[int]:
        conn = Http1Connection("127.0.0.1", load_server_port, 5.0)
        statuses = [
            await conn.request("GET", "/ok"),
            await conn.request("GET", "/chunked?n=50"),  # chunked with a trailer
            await conn.request("HEAD", "/ok"),  # Content-Length but no body
            await conn.request("GET", "/status?code=204"),
            await conn.request("POST", "/status?code=201", (("X-A", "1"),), b'{"n": 1}'),
            await conn.request("GET", "/bye"),  # server closes after this one
            await conn.request("GET", "/ok"),  # so this one reconnects
        ]
        conn.close()
        return statuses

    assert asyncio.run(go()) == [200, 200, 200, 204, 201, 200, 200]


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/close", ErrorKind.DISCONNECTED), ("/reset", ErrorKind.RESET)],
)
def test_broken_connections_have_their_kind(
    load_server_port: int, path: str, kind: ErrorKind
) -> None:
    async def go() -> ErrorKind:
        conn = Http1Connection("127.0.0.1", load_server_port, 5.0)
        try:
            await conn.request("GET", path)
        except Http1Error as exc:
            assert await conn.request("GET", "/ok") == 200  # the next request reconnects
            return exc.kind
        raise AssertionError("no error")

    assert asyncio.run(go()) is kind


def test_timeout_then_recovery(load_server_port: int) -> None:
    async def go() -> tuple[ErrorKind, int]:
        conn = Http1Connection("127.0.0.1", load_server_port, 0.3)
        try:
            await conn.request("GET", "/slow?ms=2000")
        except Http1Error as exc:
            return exc.kind, await conn.request("GET", "/ok")
        raise AssertionError("no timeout")

    assert asyncio.run(go()) == (ErrorKind.TIMEOUT, 200)


def test_each_request_gets_its_own_deadline(load_server_port: int) -> None:
    """The connection's one timer, armed by an early request, must not cut a later one short."""

    async def go() -> tuple[float, ErrorKind]:
        loop = asyncio.get_running_loop()
        conn = Http1Connection("127.0.0.1", load_server_port, 0.5)
        started = loop.time()
        while loop.time() - started < 0.35:  # fast requests: the timer is armed at ~0.5 s
            assert await conn.request("GET", "/ok") == 200
        slow_started = loop.time()
        try:
            await conn.request("GET", "/slow?ms=3000")
        except Http1Error as exc:
            return loop.time() - slow_started, exc.kind
        raise AssertionError("no timeout")

    elapsed, kind = asyncio.run(go())
    assert kind is ErrorKind.TIMEOUT
    assert 0.45 <= elapsed < 1.5


def test_refused() -> None:
    async def go() -> ErrorKind:
        try:
            await Http1Connection("127.0.0.1", 1, 2.0).request("GET", "/")
        except Http1Error as exc:
            return exc.kind
        raise AssertionError("port 1 answered")

    assert asyncio.run(go()) is ErrorKind.REFUSED


def test_encode_request() -> None:
    data = encode_request("POST", "/o?id=1", "127.0.0.1:80", (("A", "b"),), b"xy")
    assert data == (
        b"POST /o?id=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nUser-Agent: killproof\r\n"
        b"A: b\r\nContent-Length: 2\r\n\r\nxy"
    )


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


RESPONSES = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, False),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 No\r\nContent-Length: 0\r\n\r\n", 503, False),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
        200,
        False,
    ),
    (b"HTTP/1.1 404 NF\r\nconnection: close\r\ncontent-length: 2\r\n\r\nno", 404, True),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, True),
    (b"HTTP/1.0 200 OK\r\nConnection:  Keep-Alive\r\nContent-Length: 2\r\n\r\nok", 200, False),
    (
        b"HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        200,
        False,
    ),
    (b"HTTP/1.1 200 OK\r\nX-Content-Length: 9\r\ncontent-length:3\r\n\r\nabc", 200, False),
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(RESPONSES), st.lists(st.integers(1, 40), max_size=20))
def test_response_split_anywhere_parses_the_same(
    response: tuple[bytes, int, bool], cuts: list[int]
) -> None:
    data, status, closes = response

    async def go() -> tuple[int, bool]:
        reader = _ResponseReader()
        transport = _Transport()
        reader.connection_made(transport)
        waiter = reader.send(b"GET / HTTP/1.1\r\n\r\n", head_only=False)
        rest = data
        for cut in cuts:
            reader.data_received(rest[:cut])
            rest = rest[cut:]
        reader.data_received(rest)
        return await waiter, transport.closed

    assert asyncio.run(go()) == (status, closes)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_responses_fail_cleanly(data: bytes) -> None:
    async def go() -> None:
        reader = _ResponseReader()
        reader.connection_made(_Transport())
        waiter = reader.send(b"GET / HTTP/1.1\r\n\r\n", head_only=False)
        reader.data_received(data)
        reader.connection_lost(None)
        try:
            status = await waiter
        except Http1Error as exc:
            assert exc.kind in {ErrorKind.OTHER, ErrorKind.DISCONNECTED}
        else:
            assert 100 <= status <= 999

    asyncio.run(go())
