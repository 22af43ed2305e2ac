"""What the load engine sends: a request template, a small YAML list, or a HAR file.

A template is ``METHOD /path?query`` where ``{n}`` is replaced by the request counter
(0, 1, 2 …), so ``GET /orders?id={n}`` spreads requests over distinct keys the way real
traffic does (and the way an unbounded per-key cache leaks). Only ``{n}`` is replaced, so a
JSON body's own braces are left alone. Parsers are pure; :func:`load_request_source` is the
one function that reads a file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from killproof.errors import InputError

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""HTTP methods a drill may send."""

# Headers the client sets itself; copying them from a HAR would send wrong lengths/hosts.
_SKIPPED_HEADERS = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade"}
)
_TEMPLATE = re.compile(r"^\s*(?:(?P<method>[A-Za-z]+)\s+)?(?P<path>/\S*)\s*$")


@dataclass(frozen=True)
class RequestTemplate:
    """One request to send; ``{n}`` in ``path`` and ``body`` becomes the request counter."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""

    def render(self, n: int) -> RequestTemplate:
        """This request with ``{n}`` replaced by ``n``."""
        if "{n}" not in self.path and "{n}" not in self.body:
            return self
        token = str(n)
        return RequestTemplate(
            self.method,
            self.path.replace("{n}", token),
            self.headers,
            self.body.replace("{n}", token),
        )

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class RequestSource:
    """The requests of a drill, sent in turn: request ``n`` uses template ``n % len``."""

    templates: tuple[RequestTemplate, ...]
    origin: str = ""
    """Where the list came from (a file path, or ``--request``), for the report."""

    def __post_init__(self) -> None:
        if not self.templates:
            raise InputError("the request list is empty", self.origin)

    def render(self, n: int) -> RequestTemplate:
        """Request number ``n`` (0-based), with ``{n}`` substituted."""
        return self.templates[n % len(self.templates)].render(n)


def parse_request_template(text: str, origin: str = "--request", line: int = 0) -> RequestTemplate:
    """Parse ``'GET /orders?id={n}'`` (method optional, default GET; path must start with /)."""
    match = _TEMPLATE.match(text)
    if match is None:
        raise InputError(
            f"request {text!r} is not 'METHOD /path' (give a path; the target is the service)",
            origin,
            line,
        )
    method = (match.group("method") or "GET").upper()
    if method not in METHODS:
        raise InputError(f"unknown HTTP method {method!r} in {text!r}", origin, line)
    return RequestTemplate(method, match.group("path"))


def single_request(text: str) -> RequestSource:
    """A source of one template, as given to ``--request``."""
    return RequestSource((parse_request_template(text),), "--request")


def parse_request_yaml(text: str, origin: str) -> RequestSource:
    """Parse a YAML list of ``'GET /path'`` strings or ``{method, path, headers, body}`` maps.

    A top-level mapping with a ``requests:`` key holding that list is accepted too. Errors
    name ``origin`` and the 1-based line.
    """
    try:
        doc = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", origin, line) from None
    if isinstance(doc, Mapping) and "requests" in doc:
        doc = doc["requests"]
    if not isinstance(doc, Sequence) or isinstance(doc, str):
        raise InputError("expected a list of requests", origin, 1)
    templates: list[RequestTemplate] = []
    for index, item in enumerate(doc):
        line = _yaml_line(doc, index)
        if isinstance(item, str):
            templates.append(parse_request_template(item, origin, line))
        elif isinstance(item, Mapping):
            templates.append(_template_from_mapping(item, origin, line))
        else:
            raise InputError("a request is a string or a mapping", origin, line)
    return RequestSource(tuple(templates), origin)


def _yaml_line(seq: Any, index: int) -> int:
    """1-based line of item ``index`` of a ruamel sequence, 0 when unknown."""
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return 0


def _template_from_mapping(item: Mapping[Any, Any], origin: str, line: int) -> RequestTemplate:
    path = item.get("path")
    if not isinstance(path, str):
        raise InputError("request needs a 'path' string", origin, line)
    base = parse_request_template(f"{item.get('method', 'GET')} {path}", origin, line)
    headers = item.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise InputError("'headers' must be a mapping of name: value", origin, line)
    body = item.get("body", "")
    if not isinstance(body, str):
        raise InputError("'body' must be a string", origin, line)
    pairs = tuple((str(k), str(v)) for k, v in headers.items())
    return RequestTemplate(base.method, base.path, pairs, body)


def parse_har(text: str, origin: str) -> RequestSource:
    """Parse a HAR 1.2 file: each ``log.entries[].request`` becomes a template (path+query).

    The host of each URL is dropped: a drill only talks to the service under test.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", origin, exc.lineno) from None
    entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise InputError("not a HAR file: no log.entries list", origin)
    templates: list[RequestTemplate] = []
    for index, entry in enumerate(entries):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not isinstance(request.get("url"), str):
            raise InputError(f"HAR entry {index} has no request.url", origin)
        parts = urlsplit(request["url"])
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        base = parse_request_template(f"{request.get('method', 'GET')} {path}", origin)
        headers = tuple(
            (str(h.get("name", "")), str(h.get("value", "")))
            for h in request.get("headers", [])
            if isinstance(h, dict)
            and str(h.get("name", "")).lower() not in _SKIPPED_HEADERS
            and not str(h.get("name", "")).startswith(":")
        )
        post = request.get("postData")
        body = str(post.get("text", "")) if isinstance(post, dict) else ""
        templates.append(RequestTemplate(base.method, base.path, headers, body))
    return RequestSource(tuple(templates), origin)


def load_request_source(path: Path) -> RequestSource:
    """Read a ``.har``/``.json`` (HAR) or ``.yaml``/``.yml`` request list from ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read request list: {exc}", str(path)) from None
    if path.suffix.lower() in {".har", ".json"}:
        return parse_har(text, str(path))
    return parse_request_yaml(text, str(path))
