"""Latency recording for the load engine: HdrHistogram in microseconds, counted cheaply.

Every latency is in seconds on the way in and milliseconds on the way out; the histogram
itself holds microseconds with 3 significant digits (HdrHistogram V2 encoding, the same as
wrk2 and the Java/C implementations read).
"""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram


def new_histogram(timeout_s: float) -> HdrHistogram:
    """A latency histogram in microseconds, 3 significant digits, up to 2× the timeout."""
    highest_us = int(max(2 * timeout_s, 60.0) * 1_000_000)
    return HdrHistogram(1, highest_us, 3)


class LatencyRecorder:
    """Latencies counted per HdrHistogram bucket in a dict, added to the histogram in bulk.

    ``HdrHistogram.record_value`` is pure Python (≈ 3 µs); counting in a dict first and
    flushing once a second keeps the engine's per-request cost down. Keys are the
    bucket's lowest equivalent value (3 significant digits: 2048 sub-buckets per power
    of two), so nothing is lost compared with recording each value.
    """

    def __init__(self, timeout_s: float, windows: bool = False) -> None:
        self._histogram = new_histogram(timeout_s)
        self._windows = windows
        self._highest: int = self._histogram.highest_trackable_value
        self._pending: dict[int, int] = {}
        self._window: dict[int, int] = {}

    def add(self, seconds: float) -> None:
        """Count one latency given in seconds."""
        micros = min(max(1, int(seconds * 1_000_000)), self._highest)
        shift = micros.bit_length() - 11
        if shift > 0:
            micros = (micros >> shift) << shift
        pending = self._pending
        pending[micros] = pending.get(micros, 0) + 1
        if self._windows:
            window = self._window
            window[micros] = window.get(micros, 0) + 1

    def take_window(self, percentiles: tuple[float, ...]) -> tuple[float, ...]:
        """Percentiles (ms) of the values added since the last call; zeros when none.

        Only counted when the recorder was made with ``windows=True``.
        """
        counts = sorted(self._window.items())
        self._window = {}
        total = sum(c for _, c in counts)
        if not total:
            return tuple(0.0 for _ in percentiles)
        out = []
        for percentile in percentiles:
            target, seen = max(1, math.ceil(percentile / 100.0 * total)), 0
            for micros, count in counts:
                seen += count
                if seen >= target:
                    out.append(micros / 1000.0)
                    break
        return tuple(out)

    def histogram(self) -> HdrHistogram:
        """The histogram with everything counted so far."""
        for micros, count in self._pending.items():
            self._histogram.record_value(micros, count)
        self._pending.clear()
        return self._histogram
