"""Running one deploy rule so that a failure on one object costs that object only.

A deploy rule judges all the facts at once (cross-object rules need them all). When it
raises, each source object (a Kubernetes object, a Dockerfile, a compose file, a systemd
unit) is tried alone to find the ones it fails on; the rule then runs once more without
them, and each of them is reported skipped, naming the rule and its file:line. The extra
work happens only for a rule that failed; :func:`killproof.rules.engine.run` calls it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from killproof.facts.deploy import DeployFacts, LaunchKind, LinkedLaunch
from killproof.model import Finding, Skipped
from killproof.rules.base import Rule
from killproof.rules.engine import RuleBudget, RuleOverrun, run_rule
from killproof.sources.deploy.manifests import ManifestSet
from killproof.sources.deploy.yamltree import Pos


def isolate_objects(
    rule: Rule[DeployFacts], facts: DeployFacts, budget: RuleBudget | None, first: Exception
) -> tuple[list[Finding], list[Skipped]]:
    """The second try of :func:`killproof.rules.engine.run` for a deploy rule that raised
    ``first`` on all the facts: the findings on the objects it does not fail on, and a
    skipped entry (the rule, the object's file:line) for each one it fails on. Raises
    ``first`` when it fails only on a combination of objects (the whole rule is skipped)."""
    bad: list[tuple[int, str, Exception]] = []
    for key, where in _sources(facts).items():
        try:
            _run(rule, _subset(facts, _only(key)), budget)
        except RuleOverrun:
            raise
        except Exception as exc:
            bad.append((key, where, exc))
    if not bad:
        raise first
    dropped = {key for key, _, _ in bad}
    found = _run(rule, _subset(facts, lambda k: k not in dropped), budget)
    return found, [
        Skipped(f"{where} ({rule.id})", f"rule {rule.id} failed on this object: {_say(e)}")
        for _, where, e in bad
    ]


def _run(rule: Rule[DeployFacts], facts: DeployFacts, budget: RuleBudget | None) -> list[Finding]:
    return run_rule(rule, facts, budget) if budget is not None else list(rule.check(facts))


def _only(key: int) -> Callable[[int | None], bool]:
    return lambda k: k == key


def _say(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _where(at: Pos) -> str:
    return f"{at.path}:{at.line}" if at.line else at.path


def _sources(facts: DeployFacts) -> dict[int, str]:
    """Each source object (by identity) and where it is written."""
    out: dict[int, str] = {}
    for obj in facts.manifests.objects:
        out[id(obj)] = _where(obj.at)
    for linked in facts.dockerfiles:
        out[id(linked.dockerfile)] = linked.dockerfile.path
    for compose in facts.composes:
        out[id(compose)] = compose.path
    for unit in facts.units:
        out[id(unit)] = unit.path
    return out


def _owner(linked: LinkedLaunch, by_path: dict[tuple[LaunchKind, str], int]) -> int | None:
    """The source object a launch was read from."""
    launch = linked.launch
    if launch.container is not None:
        return id(launch.container.workload.obj)
    return by_path.get((launch.kind, launch.at.path))


def _subset(facts: DeployFacts, keep: Callable[[int | None], bool]) -> DeployFacts:
    """The facts of the source objects ``keep`` accepts (launches go with their object)."""
    by_path: dict[tuple[LaunchKind, str], int] = {
        **{(LaunchKind.COMPOSE, c.path): id(c) for c in facts.composes},
        **{(LaunchKind.SYSTEMD, u.path): id(u) for u in facts.units},
    }
    launches: list[LinkedLaunch] = []
    for linked in facts.launches:
        if keep(_owner(linked, by_path)):  # an unknown owner (None) is never tried alone
            launches.append(linked)
    changes: dict[str, Any] = {
        "manifests": ManifestSet.of(o for o in facts.manifests.objects if keep(id(o))),
        "launches": tuple(launches),
        "dockerfiles": tuple(d for d in facts.dockerfiles if keep(id(d.dockerfile))),
        "composes": tuple(c for c in facts.composes if keep(id(c))),
        "units": tuple(u for u in facts.units if keep(id(u))),
    }
    return dataclasses.replace(facts, **changes)
