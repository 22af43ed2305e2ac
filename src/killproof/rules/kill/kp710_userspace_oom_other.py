"""KP710 userspace-oom-kill: Another userspace OOM killer (oomd, a platform controller) killed the process."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, userspace_verdict

CAUSE = Cause.USERSPACE_OOM_OTHER


_DAEMONS = {"lmkd": "Android's lmkd", "talos": "Talos' OOM controller", "oomd": "oomd"}


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause: the daemon is named by its source."""
    return userspace_verdict(e, _DAEMONS.get(e.source.split("+")[0], "a userspace OOM killer"))


RULE = verdict_rule(
    "KP710",
    "userspace-oom-kill",
    CAUSE,
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
    verdict=verdict,
)
