"""Cleanup that survives Ctrl-C, SIGTERM, SIGHUP and crashes.

Every open sandbox registers here. An ``atexit`` hook closes whatever is still open when
the interpreter exits (a crash unwinding past ``with``); :func:`interrupt_on_signals`
turns SIGTERM and SIGHUP into :class:`DrillInterrupted` so every ``finally`` runs, as
Ctrl-C's KeyboardInterrupt already does. SIGKILL cannot be caught: the service dies with
killproof and a reaper removes the rest (:mod:`killproof.drill.reaper`), and the ledger
(:mod:`killproof.drill.ledger`) covers a reaper killed too, on the next run.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Protocol


class Closeable(Protocol):
    """Anything with an idempotent ``close()``."""

    def close(self) -> None:
        """Release everything it holds."""


class DrillInterrupted(KeyboardInterrupt):
    """SIGTERM/SIGHUP reached the drill: unwind so every ``finally`` cleans up."""


_OPEN: set[Closeable] = set()


def register(thing: Closeable) -> None:
    """Close ``thing`` at interpreter exit unless it was closed before."""
    _OPEN.add(thing)


def unregister(thing: Closeable) -> None:
    """``thing`` closed itself."""
    _OPEN.discard(thing)


def close_all() -> None:
    """Close everything still registered (the ``atexit`` hook)."""
    for thing in list(_OPEN):
        thing.close()


atexit.register(close_all)


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`DrillInterrupted` (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: FrameType | None) -> None:
        del frame
        raise DrillInterrupted(signal.Signals(signum).name)

    old = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
