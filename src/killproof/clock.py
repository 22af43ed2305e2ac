"""The one clock every timed analysis, the load engine, readiness, shutdown and the
sampler take, so tests never sleep.

``monotonic()`` is in seconds from an arbitrary origin; ``await sleep()`` (async code) and
``pause()`` (threads and plain loops) wait that many seconds. :class:`RealClock` is the
machine's (:data:`REAL_CLOCK` is one to share); :class:`FakeClock` moves only when told to
(or when something sleeps on it), so a ramp, a grace period or a cooldown runs in
microseconds.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic clock in seconds with an awaitable sleep."""

    def monotonic(self) -> float:
        """Seconds since an arbitrary, fixed origin; never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (non-positive values just yield to the event loop)."""
        ...

    def pause(self, seconds: float) -> None:
        """Block this thread for ``seconds`` (non-positive values return at once)."""
        ...


class RealClock:
    """The machine's monotonic clock and asyncio's sleep."""

    def monotonic(self) -> float:
        """``time.monotonic()`` in seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(max(0, seconds))``."""
        import asyncio  # here: check and why read this clock and never await

        await asyncio.sleep(max(0.0, seconds))

    def pause(self, seconds: float) -> None:
        """``time.sleep(max(0, seconds))``."""
        time.sleep(max(0.0, seconds))


REAL_CLOCK = RealClock()
"""The machine's clock: the default wherever a clock is injected."""


class FakeClock:
    """A clock that advances only by :meth:`advance` or by being slept on.

    Sleeping advances the time at once (then yields to the event loop), which is what a
    single-task test of a paced loop wants: the schedule is exercised, no time passes.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def monotonic(self) -> float:
        """The current fake time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds`` (negative values are ignored)."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` and yield once to the event loop."""
        self.advance(seconds)
        import asyncio

        await asyncio.sleep(0)

    def pause(self, seconds: float) -> None:
        """Advance by ``seconds`` (nothing blocks)."""
        self.advance(seconds)
