"""KP709 earlyoom-kill: earlyoom killed (or tried to kill) a process when free memory ran low."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, userspace_verdict

CAUSE = Cause.EARLYOOM


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    return userspace_verdict(e, "earlyoom")


RULE = verdict_rule(
    "KP709",
    "earlyoom-kill",
    CAUSE,
    "earlyoom killed (or tried to kill) a process when free memory ran low.",
    RuleDocs(
        what="earlyoom's `sending SIGTERM/SIGKILL to process N …` lines of every generation, confirmed by `process N exited` (an unconfirmed attempt is a warning).",
        why="earlyoom polls free memory and swap and kills the process with the highest oom_score before the kernel would; a SIGTERM kill exits 143, a SIGKILL 137.",
        example='```\nearlyoom[800]: sending SIGTERM to process 4242 uid 0 "orders": oom_score 900, oom_score_adj 0, VmRSS 1800 MiB, cmdline "/usr/bin/orders"\n```',
        fix="Give the service a cgroup memory limit and size it from a drill; review earlyoom's --avoid/--prefer.",
        references=("rfjakob/earlyoom kill.c",),
    ),
    bad=(
        Example(
            "evidence",
            'Nov 26 10:00:00 web1 earlyoom[800]: sending SIGKILL to process 4242 uid 0 "orders": oom_score 900, oom_score_adj 0, VmRSS 1800 MiB, cmdline "/usr/bin/orders"\nNov 26 10:00:00 web1 earlyoom[800]: process 4242 exited after 0.120 seconds\n',
        ),
    ),
    good=(
        Example(
            "evidence",
            "Nov 26 10:00:00 web1 earlyoom[800]: mem avail: 4000 of 16000 MiB (25.00%), swap free: 0 of 0 MiB ( 0.00%)\n",
        ),
    ),
    verdict=verdict,
)
