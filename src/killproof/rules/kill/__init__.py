"""Kill verdicts (KP7xx): one rule per cause of death that `killproof why` can prove."""

from __future__ import annotations

from typing import Any

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
