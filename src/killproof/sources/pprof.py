"""Read what a Go service's ``net/http/pprof`` says: heap profiles and goroutine dumps.

- ``/debug/pprof/heap`` is a gzip-compressed ``profile.proto`` message; it is decoded with
  the ``protobuf`` package (``profile_pb2``, generated from ``profile.proto`` beside this
  file). :meth:`HeapProfile.top_sites` names the allocation sites that hold the most
  memory (``inuse_space``) or allocated the most (``alloc_space``).
- ``/debug/pprof/goroutine?debug=1`` and the ``debug=2`` / SIGQUIT traceback are text;
  see :mod:`killproof.sources.goroutines`.

Nothing here raises on a bad payload: every decoder returns a :class:`ProfileError`
value naming what was wrong, because a drill must still report a service whose profile
endpoint died with it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from killproof.model import JSONValue
from killproof.sources import profile_pb2

MAX_PROFILE_BYTES = 256 * 1024 * 1024
"""Refuse to inflate a profile past this many bytes (a gzip bomb, not a heap profile)."""

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ProfileError:
    """Why a profile or dump could not be read (the caller reports it as skipped work)."""

    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, order=True)
class Frame:
    """One stack frame: Go function name, source file, 1-based line (0 when unknown)."""

    function: str
    file: str = ""
    line: int = 0

    def __str__(self) -> str:
        return f"{self.function} {self.file}:{self.line}" if self.file else self.function


@dataclass(frozen=True)
class AllocationSite:
    """A place in the code that holds (or allocated) memory, summed over its stacks."""

    function: str
    file: str
    line: int
    bytes: int
    """Bytes for the chosen sample type (``inuse_space`` or ``alloc_space``)."""
    objects: int
    """Objects of the matching count type (``inuse_objects`` / ``alloc_objects``)."""
    share: float
    """``bytes`` over the profile's total for that type, 0..1."""
    stack: tuple[Frame, ...]
    """The heaviest stack through this site, allocation first, at most 8 frames."""

    def to_json(self) -> dict[str, JSONValue]:
        """JSON form (used in the drill report's ``profiles`` section)."""
        return {
            "function": self.function,
            "file": self.file,
            "line": self.line,
            "bytes": self.bytes,
            "objects": self.objects,
            "share": round(self.share, 4),
            "stack": [str(f) for f in self.stack],
        }


@dataclass(frozen=True)
class HeapSample:
    """One sample: its stack (allocation first) and one value per sample type."""

    stack: tuple[Frame, ...]
    values: tuple[int, ...]


@dataclass(frozen=True)
class HeapProfile:
    """A decoded heap profile. Values are already scaled by Go for sampling."""

    sample_types: tuple[tuple[str, str], ...]
    """(type, unit) pairs, e.g. ``("inuse_space", "bytes")``."""
    samples: tuple[HeapSample, ...]
    time_nanos: int
    """When the profile was taken, ns since the Unix epoch (0 if absent)."""
    period: int

    def total(self, sample_type: str) -> int:
        """Sum of one sample type over all samples (0 if the profile lacks it)."""
        index = self._index(sample_type)
        return 0 if index is None else sum(s.values[index] for s in self.samples)

    def top_sites(
        self, sample_type: str = "inuse_space", limit: int = 10, skip_runtime: bool = True
    ) -> tuple[AllocationSite, ...]:
        """The ``limit`` sites with the most ``sample_type`` bytes, largest first.

        A site is the first frame of a stack outside the Go runtime (``runtime.*`` frames,
        such as ``runtime.makeslice``, say *how* memory was allocated, not *where*); with
        ``skip_runtime=False`` it is the innermost frame.
        """
        index = self._index(sample_type)
        if index is None:
            return ()
        count_index = self._index(sample_type.replace("_space", "_objects"))
        total = self.total(sample_type)
        sums: dict[Frame, list[int]] = {}
        heaviest: dict[Frame, tuple[int, tuple[Frame, ...]]] = {}
        for sample in self.samples:
            value = sample.values[index]
            if value <= 0 or not sample.stack:
                continue
            site = _site_of(sample.stack, skip_runtime)
            acc = sums.setdefault(site, [0, 0])
            acc[0] += value
            acc[1] += sample.values[count_index] if count_index is not None else 0
            if value > heaviest.get(site, (0, ()))[0]:
                heaviest[site] = (value, sample.stack[:8])
        ranked = sorted(sums.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
        return tuple(
            AllocationSite(
                function=site.function,
                file=site.file,
                line=site.line,
                bytes=acc[0],
                objects=acc[1],
                share=acc[0] / total if total else 0.0,
                stack=heaviest[site][1],
            )
            for site, acc in ranked
        )

    def _index(self, sample_type: str) -> int | None:
        for i, (kind, _) in enumerate(self.sample_types):
            if kind == sample_type:
                return i
        return None


def _site_of(stack: tuple[Frame, ...], skip_runtime: bool) -> Frame:
    if skip_runtime:
        for frame in stack:
            if not frame.function.startswith("runtime."):
                return frame
    return stack[0]


def decode_heap_profile(payload: bytes) -> HeapProfile | ProfileError:
    """Decode a ``/debug/pprof/heap`` body (gzip-compressed or raw ``profile.proto``)."""
    if not payload:
        return ProfileError("empty profile")
    raw = payload
    if payload[:2] == _GZIP_MAGIC:
        inflated = _gunzip(payload)
        if isinstance(inflated, ProfileError):
            return inflated
        raw = inflated
    message = profile_pb2.Profile()
    try:
        message.ParseFromString(raw)
    except DecodeError as exc:
        return ProfileError(f"not a pprof profile: {exc}")
    return _from_message(message)


def _gunzip(payload: bytes) -> bytes | ProfileError:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(payload, MAX_PROFILE_BYTES + 1)
    except zlib.error as exc:
        return ProfileError(f"corrupt gzip data: {exc}")
    if len(data) > MAX_PROFILE_BYTES:
        return ProfileError(f"profile inflates past {MAX_PROFILE_BYTES} bytes")
    if not inflater.eof:
        return ProfileError("truncated gzip data")
    return data


def _from_message(message: profile_pb2.Profile) -> HeapProfile | ProfileError:
    strings = list(message.string_table)
    if strings and strings[0] != "":
        return ProfileError("string_table[0] is not empty")

    def text(index: int) -> str | None:
        return strings[index] if 0 <= index < len(strings) else None

    sample_types: list[tuple[str, str]] = []
    for value_type in message.sample_type:
        kind, unit = text(value_type.type), text(value_type.unit)
        if kind is None or unit is None:
            return ProfileError("sample_type points outside the string table")
        sample_types.append((kind, unit))
    functions: dict[int, tuple[str, str]] = {}
    for function in message.function:
        name, filename = text(function.name), text(function.filename)
        if name is None or filename is None:
            return ProfileError(f"function {function.id} points outside the string table")
        functions[function.id] = (name, filename)
    locations: dict[int, tuple[Frame, ...]] = {}
    for location in message.location:
        frames = _location_frames(location.line, functions)
        if frames is None:
            return ProfileError(f"location {location.id} names an unknown function")
        locations[location.id] = frames or (Frame(f"0x{location.address:x}"),)
    samples: list[HeapSample] = []
    for sample in message.sample:
        if len(sample.value) != len(sample_types):
            return ProfileError("a sample's value count differs from sample_type's")
        stack: list[Frame] = []
        for location_id in sample.location_id:
            if location_id not in locations:
                return ProfileError(f"a sample names unknown location {location_id}")
            stack.extend(locations[location_id])
        samples.append(HeapSample(tuple(stack), tuple(sample.value)))
    return HeapProfile(tuple(sample_types), tuple(samples), message.time_nanos, message.period)


def _location_frames(
    lines: Iterable[profile_pb2.Line], functions: dict[int, tuple[str, str]]
) -> tuple[Frame, ...] | None:
    frames: list[Frame] = []
    for line in lines:
        if line.function_id not in functions:
            return None
        name, filename = functions[line.function_id]
        frames.append(Frame(name, filename, line.line))
    return tuple(frames)
