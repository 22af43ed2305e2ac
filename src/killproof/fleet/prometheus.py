"""The one edge that talks to Prometheus (or Thanos, Mimir, VictoriaMetrics: the same HTTP
API): instant queries with bounded concurrency, auth and TLS as krr and promtool take them.

A query that times out, is refused (HTTP 4xx/5xx, ``status: error``) or cannot connect
becomes a :class:`QueryFailure` value, never an exception: the caller keeps what the other
queries answered and says which are missing.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from killproof.errors import InputError
from killproof.fleet.promql import Query

Sample = tuple[Mapping[str, str], float]
"""One answer row: the series' labels and its value."""


@dataclass(frozen=True)
class PrometheusAccess:
    """Where Prometheus is and how to reach it (every path is read once, at the edge)."""

    url: str
    bearer_token_file: Path | None = None
    basic_auth_file: Path | None = None
    """A file holding ``user:password`` on its first line."""
    ca_file: Path | None = None
    insecure_skip_verify: bool = False
    timeout_s: float = 60.0
    """Seconds one query may take before it is given up (a partial result)."""
    concurrency: int = 4
    """Queries in flight at once (Prometheus evaluates each on its own cores)."""


@dataclass(frozen=True)
class QueryFailure:
    """A query Prometheus did not answer, and why (timeout, refused, HTTP status …)."""

    query: Query
    reason: str


@dataclass
class Answers:
    """What the queries returned: rows per query, and the failures."""

    rows: list[tuple[Query, list[Sample]]] = field(default_factory=list)
    failures: list[QueryFailure] = field(default_factory=list)


def _read_secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", str(path)) from exc
    if not text:
        raise InputError(f"{what} is empty", str(path))
    return text.splitlines()[0].strip()


def _headers(access: PrometheusAccess) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if access.bearer_token_file is not None:
        token = _read_secret(access.bearer_token_file, "bearer token file")
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _auth(access: PrometheusAccess) -> aiohttp.BasicAuth | None:
    if access.basic_auth_file is None:
        return None
    line = _read_secret(access.basic_auth_file, "basic auth file")
    user, sep, password = line.partition(":")
    if not sep:
        raise InputError("basic auth file must hold user:password", str(access.basic_auth_file))
    return aiohttp.BasicAuth(user, password)


def _ssl(access: PrometheusAccess) -> ssl.SSLContext | bool:
    if access.insecure_skip_verify:
        return False
    if access.ca_file is not None:
        try:
            return ssl.create_default_context(cafile=str(access.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"cannot read CA file: {exc}", str(access.ca_file)) from exc
    return True


def _samples(payload: Any) -> list[Sample]:
    """Rows of an instant-query answer (a vector); NaN and infinite values are dropped."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise ValueError("not a vector answer")
    out: list[Sample] = []
    for row in data.get("result", []):
        value = float(row["value"][1])
        if math.isfinite(value):
            out.append((dict(row.get("metric", {})), value))
    return out


class PrometheusClient:
    """An async client for one Prometheus; use as ``async with PrometheusClient(access)``."""

    def __init__(self, access: PrometheusAccess) -> None:
        self.access = access
        self._base = access.url.rstrip("/")
        self._headers = _headers(access)
        self._auth = _auth(access)
        self._ssl = _ssl(access)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrometheusClient:
        connector = aiohttp.TCPConnector(limit=self.access.concurrency, ssl=self._ssl)
        self._session = aiohttp.ClientSession(
            connector=connector, headers=self._headers, auth=self._auth
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _get_json(self, path: str, params: Sequence[tuple[str, str]], post: bool) -> Any:
        assert self._session is not None, "use PrometheusClient as an async context manager"
        timeout = aiohttp.ClientTimeout(total=self.access.timeout_s)
        url = f"{self._base}{path}"
        request = (
            self._session.post(url, data=list(params), timeout=timeout)
            if post
            else self._session.get(url, params=list(params), timeout=timeout)
        )
        async with request as response:
            try:
                payload = await response.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                payload = None
            if response.status != 200 or not isinstance(payload, dict):
                error = payload.get("error", "") if isinstance(payload, dict) else ""
                raise RuntimeError(f"HTTP {response.status} {error}".strip())
            if payload.get("status") != "success":
                raise RuntimeError(f"refused: {payload.get('error', 'no reason given')}")
            return payload

    async def label_values(
        self, label: str, matches: Sequence[str], start: float, end: float
    ) -> list[str]:
        """Values of ``label`` on series matching any of ``matches`` in [start, end] (Unix s).

        Raises :class:`InputError` when Prometheus cannot be reached at all (nothing to
        rank then: exit 2 with the URL, not an empty table)."""
        params = [("match[]", m) for m in matches] + [
            ("start", f"{start:.3f}"),
            ("end", f"{end:.3f}"),
        ]
        try:
            payload = await self._get_json(f"/api/v1/label/{label}/values", params, post=False)
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
            raise InputError(f"Prometheus did not answer: {_why(exc)}", self.access.url) from exc
        values = payload.get("data", [])
        return sorted(str(v) for v in values) if isinstance(values, list) else []

    async def instant(self, query: Query, at: float) -> list[Sample] | QueryFailure:
        """One instant query evaluated at ``at`` (Unix seconds)."""
        params = [("query", query.promql), ("time", f"{at:.3f}")]
        params.append(("timeout", f"{max(1, int(self.access.timeout_s))}s"))
        try:
            return _samples(await self._get_json("/api/v1/query", params, post=True))
        except (aiohttp.ClientError, TimeoutError, RuntimeError, ValueError, KeyError) as exc:
            return QueryFailure(query, _why(exc))

    async def run_all(
        self, queries: Sequence[Query], at: float, advance: Callable[[], None] = lambda: None
    ) -> Answers:
        """Every query at ``at``, at most ``access.concurrency`` in flight; ``advance`` is
        called as each one finishes (the progress bar)."""
        gate = asyncio.Semaphore(self.access.concurrency)
        answers = Answers()

        async def one(query: Query) -> None:
            async with gate:
                result = await self.instant(query, at)
            if isinstance(result, QueryFailure):
                answers.failures.append(result)
            else:
                answers.rows.append((query, result))
            advance()

        await asyncio.gather(*(one(q) for q in queries))
        return answers


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection refused ({exc.os_error.strerror or exc})"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
