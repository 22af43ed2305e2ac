"""The watcher's own Prometheus metrics (``--exporter 127.0.0.1:9464``).

Bound to loopback unless the user says otherwise: a recorder on a production host must not
open a port to the network by default (:func:`parse_address` refuses a non-loopback address
without ``public=True``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from killproof.errors import InputError


@dataclass(frozen=True)
class ExporterAddress:
    """Where the exporter listens."""

    host: str
    port: int


def parse_address(text: str, public: bool = False) -> ExporterAddress:
    """``127.0.0.1:9464``, ``[::1]:9464`` or ``:9464`` (loopback); a non-loopback address only
    with ``public``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InputError(f"--exporter wants HOST:PORT (127.0.0.1:9464), not {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError as exc:
        raise InputError(f"--exporter wants an IP address, not {host!r}") from exc
    if not loopback and not public:
        raise InputError(
            f"--exporter {text} would serve metrics beyond this host: use a loopback address, "
            "or add --exporter-public to mean it"
        )
    return ExporterAddress(host, int(port_text))


class WatchMetrics:
    """The gauges and counters; served over HTTP once :meth:`serve` is called."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.memory_ratio = Gauge(
            "killproof_memory_ratio", "Memory in use over the limit (0..1).", ["target"],
            registry=self.registry,
        )  # fmt: skip
        self.projected = Gauge(
            "killproof_projected_seconds_to_limit",
            "Seconds until the limit at the current trend (+Inf when not rising).",
            ["target"], registry=self.registry,
        )  # fmt: skip
        self.captures = Counter(
            "killproof_captures_total", "Evidence captures written.", ["target", "reason"],
            registry=self.registry,
        )  # fmt: skip
        self.kills = Counter(
            "killproof_kills", "Deaths of the watched process, by cause.", ["target", "cause"],
            registry=self.registry,
        )  # fmt: skip
        self._server: WSGIServer | None = None

    def serve(self, address: ExporterAddress) -> None:
        """Start the HTTP endpoint (a daemon thread)."""
        try:
            self._server, _ = start_http_server(address.port, address.host, registry=self.registry)
        except OSError as exc:
            raise InputError(f"--exporter {address.host}:{address.port}: {exc}") from exc

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
