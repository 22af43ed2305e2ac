"""KP707 systemd-stop-timeout: systemd sent SIGKILL because a service did not stop within TimeoutStopSec."""

from __future__ import annotations

from killproof.facts.kill import Cause
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule

RULE = verdict_rule(
    "KP707",
    "systemd-stop-timeout",
    Cause.SYSTEMD_STOP_TIMEOUT,
    "systemd sent SIGKILL because a service did not stop within TimeoutStopSec.",
    RuleDocs(
        what="Journal lines `State 'stop-sigterm' timed out. Killing.` (or the older `stopping timed out. Terminating.`) with `Killing process N (x) with signal SIGKILL.`",
        why="systemd sends SIGTERM and waits TimeoutStopSec (90 s by default); a service that ignores SIGTERM or drains for longer is SIGKILLed with requests in flight.",
        example="```\norders.service: State 'stop-sigterm' timed out. Killing.\norders.service: Killing process 4242 (orders) with signal SIGKILL.\n```",
        fix="Handle SIGTERM and call Shutdown with a deadline shorter than TimeoutStopSec (KP101, KP103, KP501).",
        references=(
            "systemd src/core/service.c (service_dispatch_timer)",
            "https://www.freedesktop.org/software/systemd/man/latest/systemd.service.html#TimeoutStopSec=",
        ),
    ),
    bad=(
        Example(
            "evidence",
            "Nov 26 10:00:00 web1 systemd[1]: orders.service: State 'stop-sigterm' timed out. Killing.\nNov 26 10:00:00 web1 systemd[1]: orders.service: Killing process 4242 (orders) with signal SIGKILL.\n",
        ),
    ),
    good=(
        Example(
            "evidence",
            "Nov 26 10:00:00 web1 systemd[1]: orders.service: Deactivated successfully.\n",
        ),
    ),
)
