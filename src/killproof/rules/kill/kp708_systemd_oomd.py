"""KP708 systemd-oomd-kill: systemd-oomd killed a cgroup under memory pressure or swap exhaustion."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, userspace_verdict

CAUSE = Cause.SYSTEMD_OOMD


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    return userspace_verdict(e, "systemd-oomd")


RULE = verdict_rule(
    "KP708",
    "systemd-oomd-kill",
    CAUSE,
    "systemd-oomd killed a cgroup under memory pressure or swap exhaustion.",
    RuleDocs(
        what="systemd-oomd lines `Killed <cgroup> due to memory pressure …`, `Marked … for killing`, or a unit's `systemd-oomd killed N process(es) in this unit.`",
        why="systemd-oomd acts on pressure (PSI) or swap use before the kernel's OOM killer would, and kills a whole cgroup, not the process that grew.",
        example="```\nsystemd-oomd[612]: Killed /system.slice/orders.service due to memory pressure for /system.slice being 82.10% > 80.00% for > 20s with reclaim activity\n```",
        fix="Give the service a memory limit of its own (MemoryMax=, KP304) and review ManagedOOMMemoryPressure settings.",
        references=(
            "systemd src/oom/oomd-manager.c",
            "https://www.freedesktop.org/software/systemd/man/latest/systemd-oomd.service.html",
        ),
    ),
    bad=(
        Example(
            "evidence",
            "Nov 26 10:00:00 web1 systemd-oomd[612]: Killed /system.slice/orders.service due to memory pressure for /system.slice being 82.10% > 80.00% for > 20s with reclaim activity\n",
        ),
    ),
    good=(Example("evidence", "Nov 26 10:00:00 web1 systemd-oomd[612]: Started systemd-oomd.\n"),),
    verdict=verdict,
)
