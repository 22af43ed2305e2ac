"""KP704 k8s-oomkilled: Kubernetes reports a container as OOMKilled."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, drill_hint, gomemlimit_hint, maybe_go, victim, where

CAUSE = Cause.K8S_OOMKILLED


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    text = (
        f"Kubernetes reports {where(e) or victim(e)} as OOMKilled"
        f"{f' (exit code {e.exit_code})' if e.exit_code is not None else ''}: the container "
        "runtime saw an OOM kill in the container's cgroup."
    )
    if e.exit_code == 0:
        text += (
            " Exit code 0 means the main process exited by itself: another process in the "
            "container was the one OOM-killed."
        )
    text += (
        " This does not prove which process died, nor whether the container's, the pod's or "
        "the node's limit was hit."
    )
    go = (
        (
            f"For a Go service, {gomemlimit_hint(e.limit_kb)}; "
            "`killproof check` finds unbounded caches and goroutines.",
        )
        if maybe_go(e)
        else ()
    )
    steps = (
        "Collect the node's kernel log around the finish time (`journalctl -k` or `dmesg -T` "
        "on the node) and run `killproof why` on it together with the pod status.",
        *go,
        drill_hint(e.limit_kb),
    )
    return Verdict(f"{where(e) or victim(e)} OOMKilled", text, steps)


RULE = verdict_rule(
    "KP704",
    "k8s-oomkilled",
    CAUSE,
    "Kubernetes reports a container as OOMKilled.",
    RuleDocs(
        what="A container status (`kubectl get pod -o json|yaml`, `kubectl describe pod`, events) whose terminated state has `reason: OOMKilled`.",
        why="The container runtime saw an OOM kill in the container's cgroup and the container restarts (CrashLoopBackOff when it repeats). It does not say which process was killed, nor whether the container's or the pod's or the node's limit was reached; with exit code 0 the main process was not even the victim.",
        example="```\nLast State:     Terminated\n  Reason:       OOMKilled\n  Exit Code:    137\n```",
        fix="Collect the node's kernel log for the details; set GOMEMLIMIT and size the limit from a drill.",
        references=(
            "https://kubernetes.io/docs/tasks/configure-pod-container/assign-memory-resource/",
            "kubernetes/kubernetes#131530 (OOMKilled with exit code 0)",
        ),
    ),
    bad=(
        Example(
            "evidence",
            '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orders-7d9f", "namespace": "shop"}, "status": {"containerStatuses": [{"name": "orders", "restartCount": 3, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-20T10:00:00Z", "finishedAt": "2026-11-20T10:04:00Z"}}}]}}\n',
        ),
    ),
    good=(
        Example(
            "evidence",
            '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orders-7d9f", "namespace": "shop"}, "status": {"containerStatuses": [{"name": "orders", "restartCount": 0, "state": {"running": {"startedAt": "2026-11-20T10:00:00Z"}}}]}}\n',
        ),
    ),
    verdict=verdict,
)
