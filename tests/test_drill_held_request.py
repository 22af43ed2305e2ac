"""The shutdown test's held request: one request is certainly in flight at the signal, so a
service that dies of it drops a request every time, and a draining one answers it."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

from killproof.drill.shutdown import ClientTraffic, Outcome
from killproof.facts.drill import DrillLimits, DrillResult, Exit, SandboxKind, ShutdownTimeline
from killproof.rules.drill import kp605_requests_dropped_on_shutdown as kp605


def server(answer: bool) -> tuple[int, threading.Thread]:
    """A one-connection server: reads the request's first lines, then either waits for the
    end of the headers and answers 200 (a draining service), or dies (closes with a reset)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def run() -> None:
        conn, _ = listener.accept()
        data = b""
        while b"Host:" not in data:
            data += conn.recv(1024)
        if answer:
            while b"\r\n\r\n" not in data:
                data += conn.recv(1024)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            conn.close()
        else:  # SIGTERM's default action: the process is gone, the kernel resets the socket
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            conn.close()
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def held_outcome(answer: bool) -> tuple[Outcome, str]:
    port, thread = server(answer)
    traffic = ClientTraffic(port, "/orders?id={n}", workers=0)
    assert traffic.hold()
    time.sleep(0.05)  # the signal lands here, with the request half sent
    traffic.release(timeout_s=2.0)
    records = traffic.stop()
    thread.join(2)
    (record,) = records
    return record.outcome, record.detail


def test_a_service_that_dies_at_the_signal_drops_the_held_request() -> None:
    outcome, detail = held_outcome(answer=False)
    assert outcome is Outcome.RESET and "held in flight across the signal" in detail


def test_a_draining_service_answers_the_held_request() -> None:
    outcome, detail = held_outcome(answer=True)
    assert outcome is Outcome.OK and detail.startswith("HTTP 200")


def _result(timeline: ShutdownTimeline) -> DrillResult:
    return DrillResult(("svc",), SandboxKind.CGROUP_V2, DrillLimits(64 << 20), True, 0.1,
                       shutdown=timeline)  # fmt: skip


def test_kp605_judges_a_death_by_the_signal_even_with_no_drop_counted() -> None:
    died = ShutdownTimeline(signal="SIGTERM", grace_s=30.0, exited=True, exit_after_s=0.003,
                            exit=Exit(5.0, signal="SIGTERM"), within_grace=True,
                            listener_closed_after_s=0.003, requests_after_signal=0, clients=32)  # fmt: skip
    (finding,) = kp605.check(_result(died))
    assert finding.rule == "KP605"
    assert "died of SIGTERM itself with 32 clients connected" in finding.message
    # A clean exit (status 0 after a drain) with no failures is not a finding.
    clean = replace(died, exit=Exit(5.0, code=0), readiness_failed_after_s=0.001,
                    listener_closed_after_s=1.0)  # fmt: skip
    assert list(kp605.check(_result(clean))) == []
    # Nor is a death with no clients connected (nothing to drop, nothing certain).
    assert list(kp605.check(_result(replace(died, clients=0)))) == []
