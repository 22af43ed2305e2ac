"""Evidence on disk: heap profiles, goroutine dumps and sample windows, with names that say
what they are, pruned oldest first to stay under ``--max-disk``.

Names: ``20261208T001502Z-orders-pid4242-leak-flagged.heap.pb.gz`` (UTC time, the target's
label, its pid, why it was taken, what it is). Units: bytes, seconds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from killproof.errors import InputError
from killproof.facts.drill import Sample

KINDS = (".heap.pb.gz", ".goroutines.txt", ".samples.json", ".postmortem.json")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def stamp(epoch_s: float) -> str:
    """``20261208T001502Z``: UTC, sortable, safe in a file name."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_s))


def safe(part: str) -> str:
    """A name part with anything but ``[A-Za-z0-9._-]`` replaced by ``_``."""
    return _UNSAFE.sub("_", part).strip("._")[:60] or "x"


@dataclass(frozen=True)
class CaptureName:
    """The self-describing prefix of one capture's files."""

    epoch_s: float
    label: str
    pid: int
    reason: str

    def file(self, kind: str) -> str:
        """The file name for ``kind`` (one of :data:`KINDS`)."""
        return f"{stamp(self.epoch_s)}-{safe(self.label)}-pid{self.pid}-{safe(self.reason)}{kind}"


class CaptureStore:
    """Writes captures into ``out`` and keeps their total size under ``max_bytes``."""

    def __init__(self, out: Path, max_bytes: int | None = None) -> None:
        self.out = out
        self.max_bytes = max_bytes
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / ".killproof-watch-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from exc

    def write(self, name: CaptureName, kind: str, body: bytes) -> Path:
        """Write one file (atomically: a reader never sees half a profile), then prune."""
        path = self.out / name.file(kind)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(body)
        partial.replace(path)
        self.prune(keep=path)
        return path

    def write_samples(self, name: CaptureName, samples: Sequence[Sample]) -> Path:
        """The window of samples as JSON (``t_s`` seconds since the watcher attached)."""
        body = {
            "target": name.label,
            "pid": name.pid,
            "reason": name.reason,
            "taken_at": stamp(name.epoch_s),
            "samples": [s.to_json() for s in samples],
        }
        return self.write(name, ".samples.json", (json.dumps(body, indent=1) + "\n").encode())

    def files(self) -> list[Path]:
        """Every capture file in ``out``, oldest first."""
        found = [p for p in self.out.iterdir() if p.is_file() and p.name.endswith(KINDS)]
        return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))

    def prune(self, keep: Path | None = None) -> list[Path]:
        """Delete the oldest captures until the total fits ``max_bytes``: profiles, dumps and
        windows first, post-mortems only when they alone are over (never ``keep``); return
        what was deleted."""
        if self.max_bytes is None:
            return []
        files = self.files()
        total = sum(p.stat().st_size for p in files)
        removed: list[Path] = []
        last_resort = [p for p in files if p.name.endswith(".postmortem.json")]
        first = [p for p in files if p not in last_resort]
        for p in (*first, *last_resort):
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            total -= p.stat().st_size
            p.unlink(missing_ok=True)
            removed.append(p)
        return removed
