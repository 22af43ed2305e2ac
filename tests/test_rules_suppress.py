"""One suppression decision for every family: comments, annotations, ``.killproof.yaml``."""

from __future__ import annotations

from killproof.config import parse_project_config
from killproof.model import Finding, Location, Severity
from killproof.rules.go import SUPPRESSION_RULES
from killproof.rules.suppress import decide
from killproof.suppression import find_suppressions, silenced_lines


def finding(rule: str, path: str, line: int) -> Finding:
    return Finding(rule, "x", Severity.WARNING, "m", Location(path, line))


YAML = """\
spec:
  # killproof:ignore KP201 batch job, sized by the scheduler
  replicas: 1
  image: a  # killproof:ignore *
  memory: 1Gi  # killproof:ignore KP203
"""


def test_comments_silence_their_lines_and_kp100_is_not_silenced() -> None:
    sups = find_suppressions(YAML, "d.yaml")
    assert [(s.line, s.covers, sorted(s.rules), s.reason) for s in sups] == [
        (2, 3, ["KP201"], "batch job, sized by the scheduler"),
        (4, 4, ["*"], ""),
        (5, 5, ["KP203"], ""),
    ]
    unexplained = [f for rule in SUPPRESSION_RULES for f in rule.check(sups)]
    assert [(f.rule, f.location.line) for f in unexplained] == [("KP100", 4), ("KP100", 5)]
    found = [
        finding("KP201", "d.yaml", 3),  # covered by the comment above it
        finding("KP202", "d.yaml", 3),  # another rule: stands
        finding("KP204", "d.yaml", 4),  # `*`
        finding("KP203", "d.yaml", 5),
        finding("KP203", "other.yaml", 5),  # another file: stands
        *unexplained,
    ]
    kept = decide(found, silenced_lines(sups))
    assert [(f.rule, f.location.path, f.location.line) for f in kept] == [
        ("KP202", "d.yaml", 3),
        ("KP203", "other.yaml", 5),
        ("KP100", "d.yaml", 4),
        ("KP100", "d.yaml", 5),
    ]


def test_project_config_ignores_and_reclassifies_any_family() -> None:
    config = parse_project_config(
        "ignore:\n  - rule: KP109\n    paths: [gen/*]\n    reason: generated tables\n"
        "severity:\n  KP100: error\n",
        ".killproof.yaml",
    )
    found = [
        finding("KP109", "gen/a.go", 3),
        finding("KP109", "cache.go", 3),
        finding("KP100", "d.yaml", 4),
    ]
    kept = decide(found, config=config)
    assert [(f.rule, f.location.path, f.severity) for f in kept] == [
        ("KP109", "cache.go", Severity.WARNING),
        ("KP100", "d.yaml", Severity.ERROR),
    ]
