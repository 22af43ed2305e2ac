"""KP303 compose-no-memory-limit: a compose service the kernel bounds for you."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts, LaunchKind
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.yamltree import Pos


def _ours(facts: DeployFacts) -> set[Pos]:
    """Where the services that run this repo's code start: built from it, or linked to one
    of its Go programs."""
    return {
        linked.launch.at
        for linked in facts.launches
        if linked.launch.kind is LaunchKind.COMPOSE
        and (linked.program is not None or linked.launch.build is not None)
    }


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Services of this repo with neither ``mem_limit`` nor ``deploy.resources.limits.memory``
    once the project's files are merged."""
    ours = _ours(facts)
    for compose in facts.composes:
        for svc in compose.services:
            if svc.at in ours and svc.memory_limit() is None:
                yield RULE.finding(
                    f"compose service {svc.name!r} has no memory limit: a leak takes the host's "
                    "memory and the kernel OOM killer chooses which process dies",
                    loc(svc.at, f"service {svc.name}"),
                )


BAD = """\
services:
  api:
    build: .
    ports: ["8080:8080"]
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP303",
    name="compose-no-memory-limit",
    severity=Severity.WARNING,
    summary="compose service without mem_limit / deploy.resources.limits.memory.",
    family="image",
    docs=RuleDocs(
        what=(
            "compose services that run this repo's code (built from it, or running one of its "
            "Go programs) and set neither `mem_limit` nor `deploy.resources.limits.memory`. "
            "The compose files of a directory are one project, merged as `docker compose -f "
            "compose.yaml -f compose.override.yaml` merges them (`compose.*.yaml`, "
            "`docker-compose.*.yml` and files that only patch services defined beside them), "
            "so a limit set in an override counts and an override is never judged alone. "
            "Third-party images (databases, caches) are not this rule's business."
        ),
        why=(
            "Without a limit the container shares the host's memory with everything else. "
            "When it leaks, the global OOM killer picks a victim by `oom_score` — the "
            "database next door as likely as the leaking service."
        ),
        example="A service with only `build` and `ports`.",
        fix="Set `deploy.resources.limits.memory` (or `mem_limit`) to peak usage plus headroom.",
        references=("https://docs.docker.com/reference/compose-file/deploy/#resources",),
    ),
    check=check,
    bad=(Example("compose", BAD, "compose.yaml"),),
    good=(Example("compose", BAD + "    mem_limit: 512m\n", "compose.yaml"),),
)
