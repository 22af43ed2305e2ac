"""Readiness: an HTTP path, a TCP port or a command, polled until it passes or times out.

The clock (:class:`killproof.clock.Clock`) is injected so the waiting logic is tested
without waiting.
Units: seconds.
"""

from __future__ import annotations

import enum
import http.client
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from killproof.clock import REAL_CLOCK, Clock
from killproof.drill.load_plan import authority
from killproof.errors import InputError
from killproof.facts.drill import Exit

"""Monotonic seconds."""


class ProbeKind(enum.Enum):
    """How readiness is checked."""

    HTTP = "http"
    TCP = "tcp"
    COMMAND = "command"


@dataclass(frozen=True)
class ReadyProbe:
    """``HTTP``: GET ``host:port`` + ``path`` answers 2xx/3xx. ``TCP``: the port accepts.
    ``COMMAND``: ``command`` exits 0 (run through ``/bin/sh -c``)."""

    kind: ProbeKind
    port: int = 0
    path: str = "/"
    command: str = ""
    host: str = "127.0.0.1"
    timeout_s: float = 1.0
    """Per attempt."""
    address: str = ""
    """The IP address ``host`` was checked at: connect there (``host`` stays the HTTP
    ``Host`` header). Empty: connect to ``host``."""

    def describe(self) -> str:
        """``GET 127.0.0.1:8080/readyz`` or ``tcp 127.0.0.1:8080`` or the command."""
        if self.kind is ProbeKind.HTTP:
            return f"GET {self.host}:{self.port}{self.path}"
        if self.kind is ProbeKind.TCP:
            return f"tcp {self.host}:{self.port}"
        return self.command


def parse_probe(text: str, port: int) -> ReadyProbe:
    """``/readyz`` → HTTP on ``port``; ``tcp`` or ``tcp:PORT`` → TCP; ``:PORT/path`` → HTTP."""
    text = text.strip()
    if text.startswith("tcp"):
        rest = text[3:].lstrip(":")
        if rest and not rest.isdigit():
            raise InputError(f"--ready {text!r}: expected tcp or tcp:PORT")
        return ReadyProbe(ProbeKind.TCP, port=int(rest) if rest else port)
    if text.startswith(":"):
        num, _, path = text[1:].partition("/")
        if not num.isdigit():
            raise InputError(f"--ready {text!r}: expected :PORT/path")
        return ReadyProbe(ProbeKind.HTTP, port=int(num), path="/" + path)
    if not text.startswith("/"):
        raise InputError(f"--ready {text!r}: expected an HTTP path such as /readyz, or tcp")
    return ReadyProbe(ProbeKind.HTTP, port=port, path=text)


def check_once(probe: ReadyProbe) -> tuple[bool, str]:
    """One attempt: (passed, what was seen)."""
    target = probe.address or probe.host
    try:
        if probe.kind is ProbeKind.TCP:
            with socket.create_connection((target, probe.port), timeout=probe.timeout_s):
                return True, "connected"
        if probe.kind is ProbeKind.COMMAND:
            done = subprocess.run(
                ["/bin/sh", "-c", probe.command],
                capture_output=True,
                timeout=max(probe.timeout_s, 1.0),
                check=False,
            )
            return done.returncode == 0, f"exit status {done.returncode}"
        conn = http.client.HTTPConnection(target, probe.port, timeout=probe.timeout_s)
        try:
            host = authority(probe.host, probe.port)
            conn.request("GET", probe.path, headers={"Host": host, "Connection": "close"})
            status = conn.getresponse().status
        finally:
            conn.close()
        return 200 <= status < 400, f"HTTP {status}"
    except (OSError, http.client.HTTPException, subprocess.SubprocessError) as exc:
        return False, type(exc).__name__


@dataclass(frozen=True)
class ReadyOutcome:
    """How waiting for readiness ended (seconds since the wait began)."""

    ready: bool
    after_s: float
    attempts: int
    last_seen: str = ""
    exited: Exit | None = None
    """Set when the process died before it became ready."""

    def describe(self) -> str:
        """One line for the report."""
        if self.ready:
            return f"ready after {self.after_s:.2f} s ({self.attempts} attempts)"
        if self.exited is not None:
            return f"process ended before it was ready ({self.exited.describe()})"
        return f"not ready after {self.after_s:.1f} s (last: {self.last_seen})"


def wait_ready(
    probe: Callable[[], tuple[bool, str]],
    exited: Callable[[], Exit | None],
    *,
    timeout_s: float,
    clock: Clock = REAL_CLOCK,
    interval_s: float = 0.05,
) -> ReadyOutcome:
    """Poll ``probe`` every ``interval_s`` until it passes, the process exits, or timeout."""
    start = clock.monotonic()
    attempts = 0
    seen = ""
    while True:
        gone = exited()
        if gone is not None:
            return ReadyOutcome(False, clock.monotonic() - start, attempts, seen, exited=gone)
        attempts += 1
        passed, seen = probe()
        elapsed = clock.monotonic() - start
        if passed:
            return ReadyOutcome(True, elapsed, attempts, seen)
        if elapsed >= timeout_s:
            return ReadyOutcome(False, elapsed, attempts, seen)
        clock.pause(interval_s)
