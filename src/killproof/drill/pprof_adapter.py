"""Heap profile files → top allocation sites, for the drill report.

Decoding is the pprof module's job (:mod:`killproof.sources.pprof`, the load/analysis
side). This adapter is the one place the drill calls it, so the drill never fails because a
profile is truncated (a service OOM-killed mid-write): the error is kept with the profile.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePath

from killproof.facts.drill import AllocationSite, HeapProfile
from killproof.sources.pprof import ProfileError, decode_heap_profile

TOP = 5
_MODULE_CACHE = "/pkg/mod/"


def go_package(function: str) -> str:
    """The import path of a Go function's package: ``net/http.(*conn).serve`` →
    ``net/http``, ``github.com/a/b.F`` → ``github.com/a/b``, ``main.f`` → ``main``."""
    head, slash, tail = function.rpartition("/")
    return f"{head}{slash}{tail.split('.', 1)[0]}"


def short_site_path(function: str, file: str, cwd: PurePath | None = None) -> str:
    """A source path a person can read: a standard-library file as ``bufio/bufio.go``
    (wherever the toolchain is installed, e.g. inside a virtualenv), a module-cache file as
    ``github.com/a/b@v1.2.3/x.go``, a file under ``cwd`` relative to it; else unchanged."""
    package = go_package(function)
    first = package.split("/", 1)[0]
    marker = f"/src/{package}/"
    if package != "main" and "." not in first and marker in file:
        return file[file.rindex(marker) + len("/src/") :]
    if _MODULE_CACHE in file:
        return file[file.rindex(_MODULE_CACHE) + len(_MODULE_CACHE) :]
    if cwd is not None and PurePath(file).is_absolute():
        try:
            return str(PurePath(file).relative_to(cwd))
        except ValueError:
            return file
    return file


def top_sites(
    raw: bytes, limit: int = TOP, cwd: PurePath | None = None
) -> tuple[AllocationSite, ...]:
    """The ``limit`` source positions holding the most in-use bytes (gzip or plain proto).

    Each site is the innermost frame outside the Go runtime, i.e. the line that allocated.
    Raises ValueError on bytes that are not a pprof heap profile.
    """
    decoded = decode_heap_profile(raw)
    if isinstance(decoded, ProfileError):
        raise ValueError(decoded.reason)
    # Stacks made only of runtime frames (the runtime's own allocations) name no code to fix.
    sites = [
        s
        for s in decoded.top_sites("inuse_space", limit + 5)
        if not s.function.startswith("runtime.")
    ]
    return tuple(
        AllocationSite(s.function, short_site_path(s.function, s.file, cwd), s.line, s.bytes)
        for s in sites[:limit]
    )


def decode(profile: HeapProfile, limit: int = TOP) -> HeapProfile:
    """``profile`` with its top sites filled in, or with ``error`` set when undecodable."""
    try:
        raw = Path(profile.path).read_bytes()
        return replace(profile, top=top_sites(raw, limit, Path.cwd()))
    except (OSError, ValueError) as exc:
        return replace(profile, error=str(exc))
