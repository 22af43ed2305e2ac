"""KP706 k8s-liveness-kill: The kubelet killed a container after its liveness or startup probe failed."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, victim, where

CAUSE = Cause.K8S_LIVENESS_KILL


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    grace = f" after a {e.grace_period_s:g} s grace period" if e.grace_period_s is not None else ""
    text = (
        f"The kubelet killed {where(e) or victim(e)} because its liveness (or startup) probe "
        f"failed{f': {e.message.strip()}' if e.message else ''}. It sends SIGTERM, then SIGKILL"
        f"{grace}. Memory was not the reason."
    )
    steps = (
        "Make liveness cheap and independent of dependencies; use readiness to shed load "
        "(`killproof check`: KP207 liveness-same-as-readiness).",
        "Give slow starters a startupProbe (KP208 liveness-kills-slow-start); check probe "
        "timeouts against GC pauses under load with `killproof drill`.",
    )
    return Verdict(f"{where(e) or victim(e)} killed by a failed probe", text, steps)


RULE = verdict_rule(
    "KP706",
    "k8s-liveness-kill",
    CAUSE,
    "The kubelet killed a container after its liveness or startup probe failed.",
    RuleDocs(
        what="A `Killing` event (or `kubectl describe` events row) saying `Container X failed liveness probe, will be restarted` or `failed startup probe`.",
        why="A liveness probe that fails under load, during a long GC pause or a slow start restarts a healthy process: SIGTERM, then SIGKILL after the grace period (exit 137 with reason `Error`).",
        example='```\nWarning  Unhealthy  Liveness probe failed: Get "http://10.0.0.7:8080/healthz": context deadline exceeded\nNormal   Killing    Container orders failed liveness probe, will be restarted\n```',
        fix="Keep liveness cheap and separate from readiness (KP207) and give slow starters a startupProbe (KP208).",
        references=(
            "kubernetes pkg/kubelet/kuberuntime/kuberuntime_manager.go (computePodActions)",
            "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/",
        ),
    ),
    bad=(
        Example(
            "evidence",
            'LAST SEEN   TYPE      REASON      OBJECT             MESSAGE\n2m          Warning   Unhealthy   pod/orders-7d9f    Liveness probe failed: Get "http://10.0.0.7:8080/healthz": context deadline exceeded\n2m          Normal    Killing     pod/orders-7d9f    Container orders failed liveness probe, will be restarted\n',
        ),
    ),
    good=(
        Example(
            "evidence",
            'LAST SEEN   TYPE      REASON      OBJECT             MESSAGE\n2m          Normal    Pulled      pod/orders-7d9f    Container image "orders:1.2" already present on machine\n',
        ),
    ),
    verdict=verdict,
)
