"""Run the killproof CLI in a child process under a time and memory budget.

Hostile-input tests assert that a case finishes within its budget and how it ended (exit
status, the one-line error): a hang or a memory blow-up is a failure of that case alone,
never a stuck test run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

KILLPROOF = [sys.executable, "-m", "killproof.cli"]

# Linux keeps a process's peak RSS across fork and exec, so the measured command is forked
# from a small Python of its own (not from the large pytest process) and reports its peak.
_MEASURE = """
import os, resource, subprocess, sys
limit = int(sys.argv[1]) << 20
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
print(f"\\nbudget:{usage.ru_maxrss}:{os.waitstatus_to_exitcode(status)}", file=sys.stderr)
"""


@dataclass(frozen=True)
class Outcome:
    """How one budgeted run ended: exit status, output, peak RSS (kB), wall time (seconds)."""

    code: int
    stdout: str
    stderr: str
    peak_rss_kb: int


def run_cli(
    args: list[str | Path],
    *,
    seconds: float = 20.0,
    mib: int = 1024,
    stdin: bytes | None = None,
    cwd: Path | None = None,
) -> Outcome:
    """Run ``killproof ARGS`` with at most ``seconds`` of wall time and ``mib`` MiB of address
    space. A run over its time raises :class:`subprocess.TimeoutExpired` (the test fails)."""
    return measure([*KILLPROOF, *map(str, args)], seconds=seconds, mib=mib, data=stdin, cwd=cwd)


def measure(
    argv: list[str],
    *,
    seconds: float | None = None,
    mib: int = 0,
    data: bytes | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    cwd: Path | None = None,
) -> Outcome:
    """Run ``argv`` forked from a small Python of its own, which reports the command's own
    peak RSS (Linux keeps a process's peak across fork and exec, so a child of the large
    pytest process would report pytest's size). Input is ``data``, or the open ``stdin``
    (a pipe from another process), else nothing; output is captured unless ``stdout`` (an
    open file) takes it. ``mib`` > 0 caps the address space; ``seconds`` the wall time."""
    env = {**os.environ, "NO_COLOR": "1"}
    # The budget's own process group, so a timeout leaves nothing running.
    with subprocess.Popen(
        [sys.executable, "-c", _MEASURE, str(mib), *argv],
        stdin=subprocess.PIPE if data is not None else (stdin or subprocess.DEVNULL),
        stdout=stdout or subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
    ) as proc:
        try:
            out, raw_err = proc.communicate(data, timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    err = raw_err.decode("utf-8", "replace")
    head, _, tail = err.rpartition("\nbudget:")
    peak, code = tail.strip().split(":")
    return Outcome(int(code), (out or b"").decode("utf-8", "replace"), head, int(peak))


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative path → content) under ``root``; return ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root
