"""KP201 memory-limit-missing: a container with no memory limit."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.manifests import ContainerRole
from killproof.sources.deploy.yamltree import dig_pos


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Every app and sidecar container must bound its memory (a LimitRange default counts)."""
    for c in facts.manifests.containers():
        if c.role is ContainerRole.INIT or c.resource("limits", "memory") is not None:
            continue
        obj = c.workload.obj
        if "limits.memory" in facts.manifests.limit_range_defaults(obj.namespace, obj.origin):
            continue
        yield RULE.finding(
            f"container {c.name!r} has no memory limit: it can grow until the node runs out "
            "and the kernel or kubelet kills whatever it picks",
            loc(dig_pos(c.spec, "resources", "limits"), c.subject),
        )


RULE: Rule[DeployFacts] = Rule(
    id="KP201",
    name="memory-limit-missing",
    severity=Severity.WARNING,
    summary="A container has no memory limit.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "Every app container and native sidecar (init containers that run to completion "
            "are exempt) of every workload kind must set `resources.limits.memory`, unless a "
            "LimitRange in the same namespace gives a default. The finding points at "
            "`resources.limits` (or `resources`, or the container's `name:` when absent)."
        ),
        why=(
            "Without a limit the container is only stopped by the node: under memory pressure "
            "the kubelet evicts pods and the kernel's global OOM killer picks a victim by "
            "`oom_score`, which may be your service or its neighbour. A limit turns a leak "
            "into one container's `OOMKilled` with a clear cause."
        ),
        example="A Deployment whose container sets only requests.",
        fix=(
            "Set `resources.limits.memory` from measured peak usage plus headroom (measure "
            "it with `killproof drill --format json`, then `killproof plan` prints the limit "
            "and writes the patch)."
        ),
        references=(
            "https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/",
            "https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/",
        ),
    ),
    check=check,
    bad=(
        Example(
            "yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\nspec:\n  containers:\n"
            "    - name: api\n      image: api:1\n      resources:\n        requests:\n"
            "          memory: 256Mi\n",
            "pod.yaml",
        ),
    ),
    good=(
        Example(
            "yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\nspec:\n  containers:\n"
            "    - name: api\n      image: api:1\n      resources:\n        requests:\n"
            "          memory: 256Mi\n        limits:\n          memory: 512Mi\n",
            "pod.yaml",
        ),
    ),
)
