"""What takes the drilled service down when killproof itself is killed (``kill -9``).

Two layers, because ``SIGKILL`` runs no cleanup code in killproof:

- :func:`launch_argv` starts the service behind a launcher that sets ``PR_SET_PDEATHSIG``
  to ``SIGKILL`` before it execs: the kernel kills the service the moment the thread that
  started it dies. That is the main thread, so only ask for it there (a worker thread
  ending would kill the service mid-drill). No ``preexec_fn``: it is unsafe with threads.
- :class:`Reaper` is a small process in a session of its own, started before the service.
  killproof sends it the drill's ledger entry (one JSON line per change) on a pipe only
  killproof holds. End of file without a final ``done`` line means killproof died without
  cleaning up (SIGKILL, the OOM killer, a CI timeout): the reaper then releases the last
  entry — the service's process group, its cgroup (``rmdir``), scope, container — checked
  as any ledger entry is (:func:`killproof.drill.ledger.release`), and deletes the record.

The ledger stays as the last layer, for a reaper killed together with killproof.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from killproof.drill import ledger
from killproof.drill.ledger import Entry

DONE = "done"
"""The last line killproof sends after cleaning up itself: the reaper then does nothing."""
_SRC = str(Path(__file__).resolve().parents[2])
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from killproof.drill.reaper import main; sys.exit(main(sys.argv[2:]))"
)


_LAUNCH = """
import ctypes, os, sys
parent, n = int(sys.argv[1]), int(sys.argv[2])
join, argv = sys.argv[3:3 + n], sys.argv[3 + n:]
if parent:
    try:
        ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # killproof died before prctl: no signal would come
        os._exit(125)
for path in join:
    try:
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
    except OSError as exc:
        sys.stderr.write(f"killproof: cannot join {path}: {exc.strerror}\\n")
        os._exit(125)
try:
    os.execvp(argv[0], argv)
except OSError as exc:
    sys.stderr.write(f"killproof: cannot start {argv[0]}: {exc.strerror}\\n")
    os._exit(127)
"""


def launch_argv(
    argv: Sequence[str], join: Sequence[Path] = (), die_with_parent: bool = True
) -> list[str]:
    """``argv`` behind a launcher that ties it to killproof's life, then execs it.

    The launcher (``python -I -S``, about 10 ms and 9 MB before it execs) sets
    ``PR_SET_PDEATHSIG`` to SIGKILL when ``die_with_parent`` — the kernel then kills the
    service the moment the thread that started it dies, so pass it only from the main
    thread — writes its pid to every ``cgroup.procs`` in ``join`` (the service joins its
    cgroup before exec, so not one page escapes the limit; exit 125 when it cannot) and
    execs ``argv`` (exit 127 when it cannot). No shell parses any of it.
    """
    parent = os.getpid() if die_with_parent else 0
    files = [str(p) for p in join]
    return [sys.executable, "-I", "-S", "-c", _LAUNCH, str(parent), str(len(files)), *files,
            *argv]  # fmt: skip


class Reaper:
    """The watching process, started by :meth:`start`; :meth:`update` it with every new
    entry, and :meth:`finish` it once the drill has cleaned up after itself."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    @classmethod
    def start(cls, ledger_dir: Path, key: str, env: Mapping[str, str]) -> Reaper:
        """Start a reaper that deletes record ``key`` of ``ledger_dir`` after releasing it.

        It runs isolated (``python -I``: no PYTHON* variables, no user site) from the
        directory this package was loaded from, in its own session (no terminal signal
        and no process-group kill aimed at killproof reaches it).
        """
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, _SRC, str(ledger_dir), key],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(env),
            cwd="/",
            start_new_session=True,
        )
        return cls(proc)

    @property
    def pid(self) -> int:
        """The reaper's pid."""
        return self._proc.pid

    def update(self, entry: Entry) -> None:
        """Tell the reaper what the drill owns now."""
        self._send(entry.to_json())

    def finish(self, timeout_s: float = 5.0) -> None:
        """The drill cleaned up: tell the reaper to exit without doing anything, and reap it."""
        self._send(DONE)
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _send(self, line: str) -> None:
        stdin = self._proc.stdin
        if stdin is None or stdin.closed:
            return
        with contextlib.suppress(OSError):  # a dead reaper (EPIPE) has nothing left to do
            stdin.write(line.encode() + b"\n")
            stdin.flush()


def last_entry(lines: Iterable[str]) -> Entry | None:
    """The entry to release once ``lines`` end: the last one read, or None after ``done``
    (an unreadable line is skipped; the previous entry still stands)."""
    entry: Entry | None = None
    for line in lines:
        text = line.strip()
        if text == DONE:
            return None
        with contextlib.suppress(ValueError, TypeError):
            entry = Entry.from_json(text)
    return entry


def main(argv: list[str]) -> int:
    """The reaper process: ``LEDGER_DIR KEY``, entries on stdin. Exit 0."""
    ledger_dir, key = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    entry = last_entry(sys.stdin)
    if entry is None:
        return 0
    ledger.release(entry)
    with (
        contextlib.suppress(ledger.LedgerRefused, OSError, ValueError),
        ledger.Ledger(Path(ledger_dir)) as records,
    ):
        records.remove(key)
    return 0
