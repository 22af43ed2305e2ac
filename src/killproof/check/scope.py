"""Which files are production code, test or tooling code, or examples.

``check`` judges what gets deployed. Test and tooling trees (``test/``, ``e2e/``, mocks,
``hack/`` …) and compose files for local testing are left out by default and counted in the
summary; ``--include-tests`` (or ``include_tests: true`` in ``.killproof.yaml``) brings
them back. ``examples/`` and ``docs/`` are judged, and their findings are labelled.
Only the path *below* the checked root is classified: ``killproof check tests/fixtures/x``
judges everything in ``x``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

TEST_DIRS = frozenset({
    "test", "tests", "e2e", "e2e-tests", "testutil", "testutils", "mock", "mocks", "hack",
    "integration-test", "integration-tests", "integrationtest", "integrationtests",
    "local-environment", "_archived", "archived",
})  # fmt: skip
"""Directory names whose contents are test, tooling or retired code (any depth)."""
EXAMPLE_DIRS = frozenset({"examples", "example", "_examples", "docs", "doc", "samples", "sample"})
_TEST_WORDS = frozenset({"test", "tests", "testing", "e2e", "ci", "integration", "it"})
_HEADER_TEST = re.compile(
    r"\b(for|in|by|during)\s+(?:\w+[\s-]+){0,3}?(tests?|testing|e2e)\b"
    r"|\b(tests?|testing)\s+(only|purposes|setup|environment)\b"
    r"|\bnot\s+(meant\s+|intended\s+)?for\s+production\b",
    re.IGNORECASE,
)


class PathKind(enum.Enum):
    """What a file is, by its path below the checked root."""

    PRODUCTION = "production"
    TEST = "test"
    EXAMPLE = "example"


@dataclass(frozen=True)
class PathClass:
    """A file's kind and why (``test/``, ``docker-compose.test.yaml``, ``examples/``)."""

    kind: PathKind
    reason: str = ""


def classify(rel: str) -> PathClass:
    """Classify a root-relative POSIX path (the root itself is never a reason)."""
    parts = rel.split("/")
    dirs, name = parts[:-1], parts[-1]
    for index, part in enumerate(dirs):
        lower = part.lower()
        if lower in TEST_DIRS:
            return PathClass(PathKind.TEST, f"{lower}/")
        if index > 0 and dirs[index - 1] == "cmd" and lower.startswith("test-"):
            return PathClass(PathKind.TEST, "cmd/test-*/")
    if _compose_for_tests(name):
        return PathClass(PathKind.TEST, "compose file for tests")
    for part in dirs:
        if part.lower() in EXAMPLE_DIRS:
            return PathClass(PathKind.EXAMPLE, f"{part.lower()}/")
    return PathClass(PathKind.PRODUCTION)


def _compose_for_tests(name: str) -> bool:
    """``docker-compose.test.yaml``, ``compose.e2e.yml``, ``docker-compose-ci.yml`` …"""
    lower = name.lower()
    if not lower.endswith((".yml", ".yaml")) or not lower.startswith(("compose", "docker-compose")):
        return False
    stem = lower.rsplit(".", 1)[0]
    return bool(set(re.split(r"[._-]", stem)) & _TEST_WORDS)


def header_says_tests(text: str) -> bool:
    """True when the comment block a YAML file or Dockerfile starts with says it is for
    tests (``# This compose file is for local testing``)."""
    header: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped == "---":
            continue
        if not stripped.startswith("#"):
            break
        header.append(stripped.lstrip("#").strip())
        if len(header) > 30:
            break
    return bool(_HEADER_TEST.search(" ".join(header)))
