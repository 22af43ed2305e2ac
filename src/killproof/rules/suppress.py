"""The one suppression decision, for every rule family.

A finding is dropped when an ignore comment covers its line (:mod:`killproof.sources.
suppress`), a Kubernetes annotation ``killproof.dev/ignore`` covers its object, or
``.killproof.yaml`` ignores its rule (for its path); ``.killproof.yaml``'s severity
overrides then apply. KP100 (a suppression without a rule id or a reason) is never
silenced by a comment: it would silence itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from killproof.config import ProjectConfig
from killproof.model import Finding

UNSILENCEABLE = frozenset({"KP100"})
"""Rules an ignore comment cannot silence (``.killproof.yaml`` still can)."""


def decide(
    findings: Iterable[Finding],
    silenced: Mapping[tuple[str, int], frozenset[str]] = {},
    config: ProjectConfig | None = None,
) -> list[Finding]:
    """The findings that stand, in order: ``silenced`` maps (path, line) to the rule ids
    comments and annotations silence there (``*``: every rule); ``config`` (None: none)
    ignores rules and overrides severities."""
    out: list[Finding] = []
    for found in findings:
        ids = silenced.get((found.location.path, found.location.line), frozenset())
        if ids and found.rule not in UNSILENCEABLE and (found.rule in ids or "*" in ids):
            continue
        if config is not None and config.ignores(found.rule, found.location.path):
            continue
        severity = config.severity.get(found.rule, found.severity) if config else found.severity
        same = severity is found.severity
        out.append(found if same else dataclasses.replace(found, severity=severity))
    return out
