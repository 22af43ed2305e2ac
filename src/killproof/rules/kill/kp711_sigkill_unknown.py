"""KP711 sigkill-sender-unknown: A process got SIGKILL and no evidence names the sender."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, cap, victim, where

CAUSE = Cause.SIGKILL_UNKNOWN


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    text = (
        f"{victim(e) if e.pid or e.process else where(e) or 'The process'} got "
        f"{e.signal or 'SIGKILL'}"
        f"{f' (exit code {e.exit_code})' if e.exit_code is not None else ''}, but no evidence "
        "here names who sent it. killproof does not guess."
    )
    steps = (
        "Kernel log around the time: `dmesg -T | grep -iE 'oom|killed process'` or "
        "`journalctl -k --since …`.",
        "Kubernetes: `kubectl get pod NAME -o yaml` (lastState) and "
        "`kubectl get events --field-selector involvedObject.name=NAME`.",
        "systemd: `journalctl -u UNIT` (stop timeouts, oom-kill results); Docker: "
        "`docker inspect` (State.OOMKilled).",
        "The cgroup's counters: memory.events (v2) or memory.oom_control (v1) — "
        "`killproof why --cgroup PATH`. Then run `killproof why` on all of it together.",
    )
    who = victim(e) if e.pid or e.process else where(e) or victim(e)
    return Verdict(cap(f"{who} got {e.signal or 'SIGKILL'} from an unknown sender"), text, steps)


RULE = verdict_rule(
    "KP711",
    "sigkill-sender-unknown",
    CAUSE,
    "A process got SIGKILL and no evidence names the sender.",
    RuleDocs(
        what="`signal: killed` from Go, a shell's `Killed`, exit status 137, `status=9/KILL`, `reason: Error` with exit code 137 — with nothing that says who sent the signal.",
        why="SIGKILL cannot be caught: the kernel's OOM killer, the kubelet after a grace period, systemd after TimeoutStopSec, an OOM daemon or a person with `kill -9` all look the same from inside. Guessing sends people to fix the wrong thing.",
        example="```\nsignal: killed\n```",
        fix="Collect the kernel log, the pod status and events, the unit's journal and the cgroup counters, and run `killproof why` on all of them together.",
        references=("Go os/exec_posix.go: ProcessState.String",),
    ),
    bad=(Example("evidence", "2026/11/26 10:00:00 worker exited: signal: killed\n"),),
    good=(Example("evidence", "2026/11/26 10:00:00 worker exited: exit status 0\n"),),
    verdict=verdict,
)
