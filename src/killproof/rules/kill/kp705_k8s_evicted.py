"""KP705 k8s-evicted: The kubelet evicted a pod because the node was low on memory."""

from __future__ import annotations

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.base import Example, RuleDocs
from killproof.rules.kill.common import verdict_rule
from killproof.rules.kill.text import Verdict, victim, where

CAUSE = Cause.K8S_EVICTED


def verdict(e: KillEvent) -> Verdict:
    """The verdict for one event of this cause."""
    text = (
        f"The kubelet evicted {where(e) or victim(e)} because the node was low on memory"
        f"{f' ({e.message.strip()})' if e.message else ''}. Eviction sends SIGTERM, then "
        "SIGKILL after the grace period; it is not a kernel OOM kill. Pods using more than "
        "their memory request are evicted first."
    )
    steps = (
        "Set the memory request to the real working set (a `killproof drill` measures it), so "
        "the pod is not first in line when the node runs short.",
        "Handle SIGTERM and drain within the grace period so an eviction is clean "
        "(`killproof check`: KP101, KP102, KP501).",
    )
    return Verdict(f"{where(e) or victim(e)} evicted under node memory pressure", text, steps)


RULE = verdict_rule(
    "KP705",
    "k8s-evicted",
    CAUSE,
    "The kubelet evicted a pod because the node was low on memory.",
    RuleDocs(
        what="A pod with `status.reason: Evicted` and a message such as `The node was low on resource: memory.`, or an `Evicted` event.",
        why="Node-pressure eviction sends SIGTERM and, after the grace period, SIGKILL. Pods that use more memory than they request are evicted first, so an understated request makes a pod the first victim even though it never reached its limit.",
        example="```\nStatus:  Failed\nReason:  Evicted\nMessage: The node was low on resource: memory. Container orders was using 900Mi, which exceeds its request of 128Mi.\n```",
        fix="Set the memory request to the real working set and handle SIGTERM with a drain that fits the grace period.",
        references=(
            "https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/",
            "kubernetes pkg/kubelet/eviction/helpers.go (message formats)",
        ),
    ),
    bad=(
        Example(
            "evidence",
            '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orders-5c4", "namespace": "shop"}, "status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory. Container orders was using 900Mi, which exceeds its request of 128Mi. "}}\n',
        ),
    ),
    good=(
        Example(
            "evidence",
            '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orders-5c4", "namespace": "shop"}, "status": {"phase": "Running"}}\n',
        ),
    ),
    verdict=verdict,
)
