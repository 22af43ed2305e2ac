"""Spot, while it happens, a service pinned at its limit that the kernel will not kill.

With a Go binary in a small cgroup v1 the kernel can keep reclaiming the service's own
page cache (its text pages) for tens of seconds instead of invoking the OOM killer: usage
sits at the limit, ``failcnt`` climbs, latency collapses. The drill must call that and
move on rather than wait. :class:`ThrashWatch` is fed samples (their ``t_s`` is the clock,
so it is tested with synthetic series) and says when the pinned state has lasted long
enough. The post-hoc judgement over the whole series is the analysis module's.
"""

from __future__ import annotations

from killproof.drill.result import Sample

PINNED_FRACTION = 0.95
"""Usage at or above this fraction of the limit counts as pinned."""


class ThrashWatch:
    """Online detector: pinned at the limit with ``failcnt`` rising for ``after_s`` seconds."""

    def __init__(self, limit_bytes: int, after_s: float) -> None:
        self.limit_bytes = limit_bytes
        self.after_s = after_s
        self._since: float | None = None
        self._failcnt_at_since: int | None = None

    def update(self, sample: Sample) -> bool:
        """Feed the newest sample; True once the service has thrashed for ``after_s``."""
        used = sample.cgroup_usage_bytes
        if used is None or sample.failcnt is None or sample.oom_kills:
            self._since = None
            return False
        if used < PINNED_FRACTION * self.limit_bytes:
            self._since = None
            return False
        if self._since is None:
            self._since, self._failcnt_at_since = sample.t_s, sample.failcnt
            return False
        rising = self._failcnt_at_since is not None and sample.failcnt > self._failcnt_at_since
        return rising and sample.t_s - self._since >= self.after_s
