"""Kill verdicts (KP7xx): one rule per cause of death that `killproof why` can prove; each
rule module also writes the verdict (headline, explanation, next steps) for its cause."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Rule
from killproof.rules.kill import (
    kp701_kernel_oom_memcg,
    kp702_kernel_oom_global,
    kp703_kernel_oom_unknown_scope,
    kp704_k8s_oomkilled,
    kp705_k8s_evicted,
    kp706_k8s_liveness_kill,
    kp707_systemd_stop_timeout,
    kp708_systemd_oomd,
    kp709_earlyoom,
    kp710_userspace_oom_other,
    kp711_sigkill_unknown,
)
from killproof.rules.kill.text import Verdict

RULES: list[Rule[Any]] = [
    kp701_kernel_oom_memcg.RULE,
    kp702_kernel_oom_global.RULE,
    kp703_kernel_oom_unknown_scope.RULE,
    kp704_k8s_oomkilled.RULE,
    kp705_k8s_evicted.RULE,
    kp706_k8s_liveness_kill.RULE,
    kp707_systemd_stop_timeout.RULE,
    kp708_systemd_oomd.RULE,
    kp709_earlyoom.RULE,
    kp710_userspace_oom_other.RULE,
    kp711_sigkill_unknown.RULE,
]

VERDICTS: dict[Cause, Callable[[KillEvent], Verdict]] = {
    kp701_kernel_oom_memcg.CAUSE: kp701_kernel_oom_memcg.verdict,
    kp702_kernel_oom_global.CAUSE: kp702_kernel_oom_global.verdict,
    kp703_kernel_oom_unknown_scope.CAUSE: kp703_kernel_oom_unknown_scope.verdict,
    kp704_k8s_oomkilled.CAUSE: kp704_k8s_oomkilled.verdict,
    kp705_k8s_evicted.CAUSE: kp705_k8s_evicted.verdict,
    kp706_k8s_liveness_kill.CAUSE: kp706_k8s_liveness_kill.verdict,
    kp707_systemd_stop_timeout.CAUSE: kp707_systemd_stop_timeout.verdict,
    kp708_systemd_oomd.CAUSE: kp708_systemd_oomd.verdict,
    kp709_earlyoom.CAUSE: kp709_earlyoom.verdict,
    kp710_userspace_oom_other.CAUSE: kp710_userspace_oom_other.verdict,
    kp711_sigkill_unknown.CAUSE: kp711_sigkill_unknown.verdict,
}
"""Each cause → the verdict function of the rule module that owns it."""


def explain(event: KillEvent) -> Verdict:
    """The verdict for one (merged) event, in the words of the rule for its cause."""
    return VERDICTS[event.cause](event)
