"""Is an input text? Judged from its first bytes, with its NUL runs left out.

A log can hold NUL bytes that are not its content: an unclean shutdown leaves a file's last
blocks zero-filled, and a log rotated with ``copytruncate`` while its writer kept its offset
starts with a run of NULs as long as the old file. Such a file is still a log, so NULs are
dropped before judging, and when reading lines. What is left is binary when too large a
share of it is bytes no log holds (C0 control characters other than tab, newline, carriage
return, form feed, backspace and escape, DEL, and bytes that are not UTF-8), or when NUL
runs are strewn through it (fixed-size records such as wtmp, or an executable: padding
comes in few long runs, a record format in many short ones).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from killproof.errors import InputError

PROBE_BYTES = 64 << 10
"""Bytes of text (NULs not counted) judged at the start of an input."""
BINARY_SHARE = 0.30
"""Above this share of non-text bytes the input is binary. Random data scores about 0.55;
a log in a legacy 8-bit encoding a few percent."""
TEXT_BYTES_PER_NUL_RUN = 64
"""Fewer text bytes than this per NUL run (and more than a few runs) is a record format."""
_FEW_NUL_RUNS = 16
MAX_LEADING_NULS = 64 << 20
"""An unbounded stream (a pipe, a decompressor, a device) that holds nothing but NUL bytes
for this long is refused (bytes): ``/dev/zero`` must not be read forever."""

_CONTROL = bytes([*range(1, 8), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_BINARY = "binary file, not a log or a Kubernetes document"
_NUL_RUN = re.compile(b"\x00+")
_MAGIC = (
    (b"\x7fELF", "an executable"),
    (b"LPKSHHRH", "a systemd journal file; give its text: journalctl --file FILE"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed; give its text: zstdcat FILE | killproof why -"),
    (b"\x04\x22\x4d\x18", "lz4-compressed; give its text: lz4cat FILE | killproof why -"),
)


def strip_nuls(data: bytes) -> bytes:
    """``data`` without its NUL bytes (the same object when it has none)."""
    return data.replace(b"\x00", b"") if b"\x00" in data else data


def non_text_share(sample: bytes) -> float:
    """Share (0–1) of the non-NUL bytes of ``sample`` that no text log holds."""
    text = strip_nuls(sample)
    if not text:
        return 0.0
    controls = len(text) - len(text.translate(None, _CONTROL))
    # not final: a character cut by the end of the sample is not counted as invalid
    decoded = codecs.getincrementaldecoder("utf-8")("replace").decode(text, final=False)
    invalid = decoded.count("\ufffd")
    return (controls + invalid) / len(text)


def nul_runs(data: bytes) -> int:
    """How many runs of NUL bytes ``data`` holds."""
    return sum(1 for _ in _NUL_RUN.finditer(data)) if b"\x00" in data else 0


def refuse_binary(sample: bytes, path: str, runs: int | None = None) -> None:
    """Raise :class:`InputError` naming ``path`` when ``sample`` (an input's first bytes) is
    not text; a known binary format is named with the way to get its text. ``runs`` is the
    number of NUL runs of the raw sample when ``sample`` has had its NULs dropped already."""
    text = strip_nuls(sample)
    runs = nul_runs(sample) if runs is None else runs
    for magic, what in _MAGIC:
        if text.startswith(magic):
            raise InputError(f"{_BINARY}: {what}", path)
    strewn = runs > _FEW_NUL_RUNS and runs * TEXT_BYTES_PER_NUL_RUN > len(text)
    if strewn or non_text_share(text) > BINARY_SHARE:
        raise InputError(_BINARY, path)


def read_text_head(
    read: Callable[[int], bytes], path: str, bounded: bool, size: int = PROBE_BYTES
) -> bytes:
    """At least ``size`` bytes of an input's first text (fewer at its end), NUL bytes
    dropped, read through ``read`` (a stream's ``read``); ``b""`` for an empty or all-NUL
    finite input.

    A leading run of NULs is read past. For an unbounded input (``bounded`` False: a pipe, a
    decompressor, a device) it may be at most :data:`MAX_LEADING_NULS` bytes, else
    :class:`InputError`. Raises :class:`InputError` when the text is binary.
    """
    head = b""
    nuls = runs = 0
    while len(head) < size:
        chunk = read(size)
        if not chunk:
            break
        text = strip_nuls(chunk)
        if len(text) < len(chunk):
            nuls += len(chunk) - len(text)
            runs += nul_runs(chunk) if text else 0  # a chunk of NULs only is padding
        head += text
        if not head and not bounded and nuls >= MAX_LEADING_NULS:
            raise InputError(
                f"nothing but NUL bytes in its first {MAX_LEADING_NULS >> 20} MiB: not a log",
                path,
            )
    refuse_binary(head, path, runs)
    return head
