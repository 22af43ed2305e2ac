"""KP710 userspace-oom-kill: Another userspace OOM killer (oomd, a platform controller) killed the process."""

from __future__ import annotations

from killproof.facts.kill import Cause
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule

RULE = verdict_rule(
    "KP710",
    "userspace-oom-kill",
    Cause.USERSPACE_OOM_OTHER,
    "Another userspace OOM killer (oomd, a platform controller) killed the process.",
    RuleDocs(
        what="Kill records of userspace OOM daemons other than systemd-oomd and earlyoom.",
        why="Userspace killers act on their own policy (pressure, free memory, ranking expressions) and can kill a process that never reached its own limit.",
        example="```\nTrying to kill /sys/fs/cgroup/system.slice/orders.service\nKilled 1: 4242(orders)\n```",
        fix="Review the daemon's policy and give the service its own limit so the kernel, not a ranking, decides.",
        references=("facebookincubator/oomd",),
    ),
    bad=(
        Example(
            "evidence",
            "Nov 26 10:00:00 web1 oomd[700]: Trying to kill /sys/fs/cgroup/system.slice/orders.service\n"
            "Nov 26 10:00:00 web1 oomd[700]: Killed 1: 4242(orders)\n",
        ),
    ),
    good=(
        Example(
            "evidence",
            "Nov 26 10:00:00 web1 oomd[700]: Killed 1: 4242(orders)\n",
        ),
    ),
)
