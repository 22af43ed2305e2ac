"""KP706 k8s-liveness-kill: The kubelet killed a container after its liveness or startup probe failed."""

from __future__ import annotations

from killproof.facts.kill import Cause
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule

RULE = verdict_rule(
    "KP706",
    "k8s-liveness-kill",
    Cause.K8S_LIVENESS_KILL,
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
)
