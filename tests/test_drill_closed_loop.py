"""The closed-loop step on the epoll loop (drill.closed_loop) against a real Go server."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading

import pytest
from hdrh.histogram import HdrHistogram

from killproof.clock import RealClock
from killproof.drill.load import (
    LoadModel,
    LoadPlan,
    LoadStep,
    OutcomeLog,
    StepProgress,
    Transport,
    parse_rate_spec,
    run_load,
)
from killproof.drill.request_source import (
    RequestSource,
    RequestTemplate,
    parse_request_yaml,
    single_request,
)


def closed(seconds: float) -> tuple[LoadStep, ...]:
    return (LoadStep(0.0, seconds, LoadModel.CLOSED),)


def test_every_request_gets_its_kind_and_status(load_server: str) -> None:
    """Each way a response can end, one connection after another on the same loop."""
    source = parse_request_yaml(
        "- GET /ok\n"
        "- GET /status?code=500\n"
        "- GET /close\n"
        "- GET /reset\n"
        "- GET /chunked?n=20\n"
        "- HEAD /ok\n"
        "- GET /status?code=204\n"
        "- GET /bye\n"
        "- method: POST\n"
        "  path: /status?code=201&n={n}\n"
        "  body: '{\"n\": {n}}'\n",
        "kinds.yaml",
    )
    expected: dict[int, tuple[int, str | None]] = {
        0: (200, None),
        1: (500, "http_500"),
        2: (0, "disconnected"),
        3: (0, "reset"),
        4: (200, None),
        5: (200, None),
        6: (204, None),
        7: (200, None),
        8: (201, None),
    }
    log = OutcomeLog()
    log.record_from(0.0)
    plan = LoadPlan(load_server, source, closed(0.5), 4)
    (step,) = asyncio.run(run_load(plan, RealClock(), outcomes=log)).steps
    outcomes = log.outcomes()
    assert len(outcomes) == step.sent > 9 * 4
    for outcome in outcomes:
        assert (outcome.status, outcome.error_key) == expected[outcome.n % 9], outcome
        assert outcome.intended_s == outcome.sent_s <= outcome.done_s
    assert {n % 9 for n in range(step.sent)} == set(expected)
    per_kind = {key: sum(1 for o in outcomes if o.error_key == key) for key in dict(step.errors)}
    assert dict(step.errors) == per_kind
    assert set(per_kind) == {"http_500", "disconnected", "reset"}
    assert step.completed == sum(1 for o in outcomes if o.status)
    assert step.unsent == 0 and step.model is LoadModel.CLOSED


def test_refused_connections_are_counted_not_fatal() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plan = LoadPlan(f"http://127.0.0.1:{port}", single_request("/ok"), closed(0.3), 4)
    (step,) = asyncio.run(run_load(plan)).steps
    assert step.sent > 10
    assert dict(step.errors) == {"refused": step.sent}
    assert step.completed == 0 and step.histogram == ""


def test_a_request_past_its_timeout_fails_and_the_step_still_ends(load_server: str) -> None:
    source = parse_request_yaml("- GET /slow?ms=3000\n- GET /ok\n", "slow.yaml")
    log = OutcomeLog()
    log.record_from(0.0)
    plan = LoadPlan(load_server, source, closed(0.2), 2, timeout_s=0.4)
    clock = RealClock()
    started = clock.monotonic()
    (step,) = asyncio.run(run_load(plan, clock, outcomes=log)).steps
    took = clock.monotonic() - started
    assert 0.4 <= took < 2.5  # the step's 0.2 s plus one timeout, not the 3 s answer
    slow = [o for o in log.outcomes() if o.n % 2 == 0]
    assert slow and all(o.error_key == "timeout" and o.status == 0 for o in slow)
    assert all(0.39 <= o.done_s - o.sent_s < 1.0 for o in slow)
    assert dict(step.errors) == {"timeout": len(slow)}


def test_stop_ends_the_step_and_progress_arrives_on_the_event_loop(load_server: str) -> None:
    ticks: list[tuple[StepProgress, int]] = []
    clock = RealClock()

    async def drive() -> tuple[float, int]:
        stop = asyncio.Event()
        plan = LoadPlan(load_server, single_request("/ok?i={n}"), closed(60.0), 4)
        task = asyncio.create_task(
            run_load(
                plan,
                clock,
                on_progress=lambda p: ticks.append((p, threading.get_ident())),
                stop=stop,
            )
        )
        await asyncio.sleep(2.3)
        stop.set()
        stopped = clock.monotonic()
        (step,) = (await task).steps
        assert step.stopped_early
        assert 2.2 <= step.duration_s < 10.0
        assert sum(w.completed for w in step.timeline) == step.completed > 100
        assert len(step.timeline) - len(ticks) in {0, 1}  # a window per tick, and the rest
        return clock.monotonic() - stopped, step.completed

    took, completed = asyncio.run(drive())
    assert took < 1.0
    main = threading.get_ident()
    assert len(ticks) >= 2 and {p.step_index for p, _ in ticks} == {0}
    assert all(thread == main for _, thread in ticks)
    first, second = ticks[0][0], ticks[1][0]
    assert 0 < first.completed < second.completed <= completed
    assert first.window is not None and first.window.rate_rps > 50
    assert 0 < first.p50_ms <= first.p99_ms


def test_latency_histogram_covers_every_response(load_server: str) -> None:
    plan = LoadPlan(load_server, single_request("/slow?ms=20"), closed(0.5), 3)
    (step,) = asyncio.run(run_load(plan)).steps
    histogram = HdrHistogram.decode(step.histogram.encode())
    assert histogram.get_total_count() == step.completed > 30
    assert 20 <= step.p50_ms <= step.p99_ms <= step.max_ms < 500
    assert step.service_p99_ms == step.p99_ms  # sent when due: no queueing to correct for
    assert 30 < step.rate_achieved_rps <= 3 / 0.020  # 3 connections, ≥ 20 ms a request


@pytest.mark.parametrize("transport", list(Transport), ids=lambda t: t.value)
def test_closed_and_open_steps_mix_in_one_plan(load_server: str, transport: Transport) -> None:
    steps = parse_rate_spec("100/0.6s,max/0.5s,100/0.6s", 1.0)
    plan = LoadPlan(load_server, single_request("/ok?i={n}"), steps, 4, transport=transport)
    log = OutcomeLog()
    log.record_from(0.0)
    result = asyncio.run(run_load(plan, outcomes=log))
    assert [s.index for s in result.steps] == [0, 1, 2]
    assert [s.model for s in result.steps] == [LoadModel.OPEN, LoadModel.CLOSED, LoadModel.OPEN]
    assert all(s.errors == () for s in result.steps)
    assert result.steps[1].rate_achieved_rps > 300
    assert result.steps[2].rate_achieved_rps == pytest.approx(100, rel=0.2)
    numbers = [o.n for o in log.outcomes()]
    assert sorted(numbers) == list(range(sum(s.sent for s in result.steps)))


class _BodyCounter(socketserver.StreamRequestHandler):
    """Reads whole keep-alive requests (head and Content-Length body), answers 200 'ok'."""

    server: _RecordingServer

    def handle(self) -> None:
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = self.rfile.readline()
                if not line:
                    return
                head += line
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = self.rfile.read(length)
            self.server.lengths.append(len(body))
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


class _RecordingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    lengths: list[int]


def test_a_body_larger_than_the_socket_buffer_is_sent_in_parts() -> None:
    body = "x" * (16 * 1024 * 1024)  # several times a loopback socket's send buffer
    with _RecordingServer(("127.0.0.1", 0), _BodyCounter) as recorder:
        recorder.lengths = []
        threading.Thread(target=recorder.serve_forever, daemon=True).start()
        port = recorder.server_address[1]
        source = RequestSource((RequestTemplate("POST", "/upload", (), body),))
        plan = LoadPlan(f"http://127.0.0.1:{port}", source, closed(0.3), 1)
        (step,) = asyncio.run(run_load(plan)).steps
        recorder.shutdown()
    assert step.errors == ()
    assert step.completed == step.sent >= 1
    assert recorder.lengths == [len(body)] * step.completed
