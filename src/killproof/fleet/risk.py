"""The kill-risk score of a workload (pure). Documented in docs/fleet.md; every term is
a reason a person can check against the numbers in the same row.

Per container, points add up (0–100, capped):

========================  ==============================================================
killed in the window      40 for any OOM kill, +2 per further kill (up to +10)
projected to hit limit    up to 25: 25 × (1 − days_to_limit / 30) for a working set growing
                          by ≥ 5 % of the limit over the window (slope = ``deriv``)
headroom                  up to 20: 20 × (peak/limit − 0.75) / 0.25 (peaks above 75 %)
no memory limit           15 (the node's OOM killer picks it, with no warning)
overcommit                5 when limit/request ≥ 2 (evicted or node-OOM-killed first)
missing GOMEMLIMIT        5 (Go runtime scraped and its limit unset)
grace vs drain            5 when the preStop delay uses the whole grace period (SIGKILL
                          before the process even sees SIGTERM's drain)
deploy rules              5 for a deploy rule error on it (check's KP2xx/KP5xx), 2 for
                          warnings only
CPU throttling            3 when ≥ 25 % of CFS periods were throttled (GC falls behind)
========================  ==============================================================

A workload's score is its worst container's. Ties rank the one nearest its limit first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from killproof.fleet.usage import ContainerUsage
from killproof.model import Finding, Severity

DAY_S = 86400.0
PROJECTION_HORIZON_DAYS = 30.0
GROWTH_SHARE = 0.05
HEADROOM_START = 0.75
OVERCOMMIT_RATIO = 2.0
THROTTLED_SHARE = 0.25
MIB = float(1 << 20)


@dataclass(frozen=True)
class Risk:
    """A container's score (0–100) and the reasons that earned it, worst first."""

    score: float
    reasons: tuple[str, ...]
    days_to_limit: float | None
    """Days until the working set reaches the limit at the current slope (None: not growing
    towards it)."""
    headroom_share: float | None
    """peak / limit (None without a limit)."""


def growing(usage: ContainerUsage, window_s: float) -> bool:
    """The working set grew by at least 5 % of the limit (or of its peak) over the window."""
    slope = usage.slope_bytes_per_s
    base = usage.limit_bytes or usage.peak_bytes
    return bool(slope and base and slope * window_s >= GROWTH_SHARE * base)


def days_to_limit(usage: ContainerUsage, window_s: float) -> float | None:
    """Days until the last working set reaches the limit at the window's slope."""
    slope, limit, last = usage.slope_bytes_per_s, usage.limit_bytes, usage.last_bytes
    if not slope or not limit or last is None or not growing(usage, window_s):
        return None
    return max(0.0, (limit - last) / slope / DAY_S)


def container_risk(
    usage: ContainerUsage, window_s: float, findings: Sequence[Finding] = ()
) -> Risk:
    """Score one container over a window of ``window_s`` seconds (see module docstring)."""
    points: list[tuple[float, str]] = []
    window_days = window_s / DAY_S
    kills = usage.kills
    if kills:
        points.append((40 + min(10, 2 * (kills - 1)), f"OOM-killed {kills}× in {window_days:g}d"))
    days = days_to_limit(usage, window_s)
    if days is not None and days < PROJECTION_HORIZON_DAYS:
        assert usage.slope_bytes_per_s is not None and usage.limit_bytes is not None
        per_day = usage.slope_bytes_per_s * DAY_S / MIB
        points.append(
            (
                25 * (1 - days / PROJECTION_HORIZON_DAYS),
                f"grows {per_day:.0f} MiB/day: reaches the {usage.limit_bytes / MIB:.0f} MiB "
                f"limit in {days:.1f} days",
            )
        )
    share = None
    if usage.limit_bytes and usage.peak_bytes is not None:
        share = usage.peak_bytes / usage.limit_bytes
        if share > HEADROOM_START:
            points.append(
                (
                    20 * min(1.0, (share - HEADROOM_START) / (1 - HEADROOM_START)),
                    f"peak {usage.peak_bytes / MIB:.0f} MiB is {share:.0%} of the limit",
                )
            )
    elif usage.peak_bytes is not None:
        points.append((15, "no memory limit"))
    if usage.limit_bytes and usage.request_bytes:
        ratio = usage.limit_bytes / usage.request_bytes
        if ratio >= OVERCOMMIT_RATIO:
            points.append((5, f"limit is {ratio:.1f}× the request"))
    if usage.gomemlimit_missing:
        points.append((5, "Go runtime without GOMEMLIMIT"))
    spec = usage.spec
    if spec is not None and spec.prestop_s and spec.prestop_s >= spec.grace_s:
        points.append(
            (5, f"preStop {spec.prestop_s:g} s uses the whole {spec.grace_s:g} s grace period")
        )
    errors = sorted({f.rule for f in findings if f.severity is Severity.ERROR})
    warnings = sorted({f.rule for f in findings if f.severity is Severity.WARNING})
    if errors:
        points.append((5, f"deploy rules: {', '.join(errors)}"))
    elif warnings:
        points.append((2, f"deploy rules: {', '.join(warnings)}"))
    if usage.throttled_share is not None and usage.throttled_share >= THROTTLED_SHARE:
        points.append((3, f"CPU throttled in {usage.throttled_share:.0%} of periods"))
    points.sort(key=lambda p: -p[0])
    score = min(100.0, sum(p for p, _ in points))
    return Risk(round(score, 1), tuple(r for _, r in points), days, share)
