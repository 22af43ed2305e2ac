"""KP707 systemd-stop-timeout: systemd sent SIGKILL because a service did not stop within TimeoutStopSec."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, cap, maybe_go, victim, where

CAUSE = Cause.SYSTEMD_STOP_TIMEOUT


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    text = (
        f"systemd stopped {where(e) or victim(e)}; the service did not exit within "
        "TimeoutStopSec after SIGTERM, so systemd sent SIGKILL. Memory was not the reason."
    )
    handle = (
        "Handle SIGTERM: `signal.NotifyContext`, then `srv.Shutdown(ctx)` with a deadline "
        "shorter than TimeoutStopSec (`killproof check`: KP101, KP103, KP501)."
        if maybe_go(e)
        else f"Make {e.process} exit on SIGTERM within TimeoutStopSec (its own shutdown "
        "setting), or raise TimeoutStopSec if a clean stop really takes longer."
    )
    steps = (
        handle,
        "`killproof drill` sends SIGTERM under load and shows where shutdown hangs "
        "(a SIGQUIT goroutine dump).",
    )
    verb = "SIGKILLed" if e.killed else "survived systemd's SIGKILL"
    return Verdict(cap(f"{where(e) or victim(e)} {verb} after a stop timeout"), text, steps)


RULE = verdict_rule(
    "KP707",
    "systemd-stop-timeout",
    CAUSE,
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
    verdict=verdict,
)
