"""KP711 sigkill-sender-unknown: A process got SIGKILL and no evidence names the sender."""

from __future__ import annotations

from killproof.facts.kill import Cause
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule

RULE = verdict_rule(
    "KP711",
    "sigkill-sender-unknown",
    Cause.SIGKILL_UNKNOWN,
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
)
