"""The fallback when no cgroup can enforce the limit: an RSS watchdog that emulates it.

It polls the service's process tree at 20 Hz and SIGKILLs the process group the moment
the summed RSS exceeds the limit — what the kernel's OOM killer would do, minus reclaim
and page-cache accounting (the report says the limit was emulated).

Units: bytes, seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable

import psutil

POLL_S = 0.05


def tree_rss(root: psutil.Process) -> int | None:
    """RSS of ``root`` and all its descendants (bytes), None once ``root`` is gone."""
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


class RssWatchdog:
    """A thread that kills process group ``pgid`` when its tree's RSS exceeds the limit."""

    def __init__(self, pgid: int, limit_bytes: int, elapsed: Callable[[], float]) -> None:
        self.pgid, self.limit_bytes, self.elapsed = pgid, limit_bytes, elapsed
        self.kill: tuple[float, int] | None = None
        """(seconds since the service started, RSS bytes) when it killed the service."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-watchdog", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pgid)
        except psutil.Error:
            return
        while not self._stop.wait(POLL_S):
            rss = tree_rss(root)
            if rss is None:
                return
            if rss > self.limit_bytes:
                self.kill = (self.elapsed(), rss)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pgid, signal.SIGKILL)
                return


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``condition`` every millisecond until it holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True
