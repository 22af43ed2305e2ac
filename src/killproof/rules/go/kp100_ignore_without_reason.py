"""KP100 ignore-without-reason: a ``killproof:ignore`` comment that does not say why.

An ordinary rule over the suppressions of any file kind (``//`` in Go, ``#`` in YAML,
Dockerfiles, units and scripts): the Go side runs it on each package's directives, the
deploy side on each file's comments.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from killproof.model import Evidence, Finding, Location, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.suppression import Suppression


def _check(suppressions: Sequence[Suppression]) -> Iterator[Finding]:
    for s in suppressions:
        if s.rules and s.reason:
            continue
        what = "names no rule id" if not s.rules else "gives no reason"
        yield RULE.finding(
            f"killproof:ignore {what}: say which rule and why it does not apply here",
            Location(s.path, s.line, s.column),
            [Evidence(s.text, s.path, s.line)],
        )


RULE: Rule[Sequence[Suppression]] = Rule(
    id="KP100",
    name="ignore-without-reason",
    severity=Severity.WARNING,
    summary="A killproof:ignore comment without a rule id or a reason.",
    docs=RuleDocs(
        what=(
            "`killproof:ignore` comments (`//` in Go, `#` in YAML, Dockerfiles, compose "
            "files, systemd units and scripts) that do not name a rule id (`KP109`) or do "
            "not give a reason after the ids."
        ),
        why=(
            "A silenced finding is a decision someone made about a kill risk. Without the "
            "reason, the next reader cannot tell whether it still holds after the code "
            "changed, and the risk goes back to production unreviewed."
        ),
        example="```go\nresponses[key] = body //killproof:ignore KP109\n```",
        fix=(
            "Name the rule and say why it does not apply: "
            "`//killproof:ignore KP109 keys are the 12 ISO currencies`."
        ),
        references=("README.md: Suppress a finding where it is",),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            "package cache\n\nvar rates = map[string]float64{}\n\n"
            "func set(k string, v float64) {\n\trates[k] = v //killproof:ignore KP109\n}\n",
            "cache.go",
        ),
        Example(
            "compose",
            "services:\n  api:\n    image: shop/api:1.4  # killproof:ignore KP303\n",
            "compose.yaml",
        ),
    ),
    good=(
        Example(
            "go",
            "package cache\n\nvar rates = map[string]float64{}\n\n"
            "func set(k string, v float64) {\n"
            "\trates[k] = v //killproof:ignore KP109 keys are the 12 ISO currencies\n}\n",
            "cache.go",
        ),
        Example(
            "compose",
            "services:\n  api:\n    image: shop/api:1.4  "
            "# killproof:ignore KP303 the platform sets mem_limit from the service catalogue\n",
            "compose.yaml",
        ),
    ),
    family="go",
)
