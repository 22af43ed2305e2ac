"""KP303 compose-no-memory-limit: a compose service the kernel bounds for you."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.check.deploy_facts import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Services with neither ``mem_limit`` nor ``deploy.resources.limits.memory``."""
    for compose in facts.composes:
        for svc in compose.services:
            if svc.memory_limit() is None:
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
        what="compose services that set neither `mem_limit` nor `deploy.resources.limits.memory`.",
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
