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
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from killproof.sources.golang.ci import go_run_dirs, read_small

TEST_DIRS = frozenset({
    "test", "tests", "e2e", "e2e-tests", "testutil", "testutils", "mock", "mocks", "hack",
    "integration", "integration-test", "integration-tests", "integrationtest", "integrationtests",
    "ci",
    "local-environment", "_archived", "archived", "testing", "fixtures", "fake", "fakes",
    "benchmark", "benchmarks", "loadtest", "loadtests", "load-test", "load-tests",
    ".devcontainer", ".github", ".gitlab", ".circleci", ".buildkite",
})  # fmt: skip
"""Directory names whose contents are test, tooling or retired code (any depth): test
helpers and data, load generators, the dev container and CI's own images and actions."""
EXAMPLE_DIRS = frozenset({
    "examples", "example", "_examples", "docs", "doc", "documentation", "samples", "sample",
    "tutorial", "tutorials", "guide", "guides", "walkthrough", "walkthroughs", "quickstart",
    "quickstarts", "getting-started", "demo", "demos", "playground",
})  # fmt: skip
"""Directory names whose contents are examples and documentation (judged, labelled)."""
_EXAMPLE_SUFFIXES = ("-example", "-examples", "_example", "_examples")
"""A walkthrough's own directory (``docs/tcp-full-example/``) is an example too."""
_TEST_WORDS = frozenset({"test", "tests", "tester", "testing", "e2e", "ci", "integration", "it"})
_DEV_WORDS = frozenset({"dev", "development", "local", "debug"})
"""Name words of compose files and Dockerfiles for a developer's machine
(``docker-compose.dev.yml``, ``Dockerfile.debug``): never what is deployed."""
_HEADER_TEST = re.compile(
    r"\b(for|in|by|during)\s+(?:\w+[\s-]+){0,3}?(tests?|testing|e2e)\b"
    r"|\b(tests?|testing)\s+(only|purposes|setup|environment)\b"
    r"|\bnot\s+(meant\s+|intended\s+)?for\s+production\b"
    r"|\b(?:image|container)\b[^.]{0,40}?\bruns?\s+(?:the\s+)?(?:\w+[\s-]+){0,2}?"
    r"(tests|test\s+suite)\b",
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


def classify(
    rel: str, ci_only: frozenset[str] = frozenset(), test_env: frozenset[str] = frozenset()
) -> PathClass:
    """Classify a root-relative POSIX path (the root itself is never a reason);
    ``ci_only`` holds the directories of programs only CI runs (:func:`ci_only_dirs`),
    ``test_env`` the compose files a Makefile test target starts (:func:`test_env_files`)."""
    parts = rel.split("/")
    dirs, name = parts[:-1], parts[-1]
    if ci_only and any("/".join(dirs[: i + 1]) in ci_only for i in range(len(dirs))):
        return PathClass(PathKind.TEST, "program only CI runs")
    if rel in test_env:
        return PathClass(PathKind.TEST, "compose file a Makefile test target starts")
    for index, part in enumerate(dirs):
        lower = part.lower()
        if lower in TEST_DIRS:
            return PathClass(PathKind.TEST, f"{lower}/")
        if index > 0 and dirs[index - 1] == "cmd" and lower.startswith("test-"):
            return PathClass(PathKind.TEST, "cmd/test-*/")
    words = _name_words(name)
    if words & _TEST_WORDS:
        return PathClass(PathKind.TEST, f"{_FILE_KIND[_file_kind(name)]} for tests")
    if words & _DEV_WORDS:
        return PathClass(PathKind.TEST, f"{_FILE_KIND[_file_kind(name)]} for local development")
    for part in dirs:
        lower = part.lower()
        if lower in EXAMPLE_DIRS:
            return PathClass(PathKind.EXAMPLE, f"{lower}/")
        if lower.endswith(_EXAMPLE_SUFFIXES):
            return PathClass(PathKind.EXAMPLE, "*-example/")
    return PathClass(PathKind.PRODUCTION)


_FILE_KIND = {"compose": "compose file", "dockerfile": "Dockerfile"}


def _file_kind(name: str) -> str:
    """``compose`` for compose file names, ``dockerfile`` for Dockerfile names, else ""."""
    lower = name.lower()
    if lower.endswith((".yml", ".yaml")) and lower.startswith(("compose", "docker-compose")):
        return "compose"
    if lower.startswith("dockerfile") or lower.endswith(".dockerfile"):
        return "dockerfile"
    return ""


def _name_words(name: str) -> set[str]:
    """The words of a compose file's or Dockerfile's name besides the kind itself
    (``docker-compose.e2e.yml`` → {e2e}; ``Dockerfile.integration`` → {integration};
    ``test.Dockerfile`` → {test}); empty for other files."""
    kind = _file_kind(name)
    if not kind:
        return set()
    lower = name.lower()
    stem = lower.rsplit(".", 1)[0] if kind == "compose" else lower
    return set(re.split(r"[._-]", stem)) - {"docker", "compose", "dockerfile", ""}


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


_CI_FILE = re.compile(
    r"^(?:\.github/workflows/[^/]+|\.gitlab-ci|\.gitlab/.+|\.circleci/[^/]+|\.drone"
    r"|\.travis|azure-pipelines|\.buildkite/[^/]+)\.ya?ml$"
)
"""CI pipeline definitions (root-relative POSIX paths)."""
_BUILD_FILE = re.compile(
    r"(?:^|/)(?:[^/]*dockerfile[^/]*|[^/]*containerfile[^/]*|makefile|[^/]+\.mk|[^/]+\.sh"
    r"|justfile|earthfile|build(?:\.bazel)?|\.goreleaser[^/]*\.ya?ml|[^/]+\.service"
    r"|(?:docker-)?compose[^/]*\.ya?ml)$",
    re.IGNORECASE,
)
"""Files that build, package or start shipped programs."""
_GO_BUILD = re.compile(r"\b(?:go\s+(?:build|install)|ko\s+(?:build|publish|apply))\b[^\n;&|]*")


def ci_only_dirs(root: Path, files: Sequence[Path]) -> frozenset[str]:
    """Root-relative directories of Go programs that only CI runs: a pipeline runs them
    with ``go run`` (``go run cmd/mr-bot/main.go`` in ``.gitlab/bots.yml``) and nothing
    that ships names them: no Dockerfile, Makefile, goreleaser config, unit, compose file
    or manifest mentions the directory or the binary (its last element). The root itself
    is never one (``go run build.go`` runs one file beside the real program)."""
    prefix = str(root.resolve()).rstrip(os.sep) + os.sep
    rels = [
        (path, (str(path)[len(prefix) :] if str(path).startswith(prefix) else path.name))
        for path in files
    ]
    targets: set[str] = set()
    builds: list[str] = []  # the build commands of the pipelines: a release job ships
    for path, rel in rels:
        if _CI_FILE.match(rel.replace(os.sep, "/")):
            text = read_small(path, root)
            targets.update(go_run_dirs(text))
            builds += [m.group(0) for m in _GO_BUILD.finditer(text)]
    if not targets:
        return frozenset()
    shipped = builds + [
        read_small(path, root)
        for path, rel in rels
        if not _CI_FILE.match(posix := rel.replace(os.sep, "/"))
        and (_BUILD_FILE.search(posix) or posix.endswith((".yaml", ".yml")))
    ]
    return frozenset(d for d in targets if not any(_names(d, text) for text in shipped))


def _names(program_dir: str, text: str) -> bool:
    """True when ``text`` mentions the program's directory or its binary name as a word."""
    for word in (program_dir, posixpath.basename(program_dir)):
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text):
            return True
    return False


_MAKE_RULE = re.compile(r"^(?P<targets>[^\s:=#][^:=#]*?)\s*::?(?![=])(?P<rest>.*)$")
"""A Makefile rule line (``test integration: deps``); not ``X := …`` nor ``X ::= …``."""
_COMPOSE_FILE = re.compile(r"(?:^|\s)(?:-f|--file)(?:=|\s+)[\"']?([^\s\"';&|)]+)")
_MAKEFILE = re.compile(r"(?:^|/)(?:gnumakefile|makefile|[^/]+\.mk)$", re.IGNORECASE)


def test_env_files(root: Path, files: Sequence[Path]) -> frozenset[str]:
    """Root-relative compose files that a Makefile's test target starts: a recipe line of
    a target named for tests (``test``, ``docker-test``, ``e2e``, ``integration-up`` …)
    that runs compose with ``-f FILE``/``--file FILE``. Such a file is the test suite's
    environment (databases and fakes to run ``go test`` against), not a deployment, even
    when nothing in its name or header says so. Paths with make or shell variables in
    them are not followed."""
    prefix = str(root.resolve()).rstrip(os.sep) + os.sep
    found: set[str] = set()
    for path in files:
        text = str(path)
        rel = (text[len(prefix) :] if text.startswith(prefix) else path.name).replace(os.sep, "/")
        if _MAKEFILE.search(rel):
            base = posixpath.dirname(rel)
            found.update(
                posixpath.normpath(posixpath.join(base, f)) for f in _make_test_composes(
                    read_small(path, root)
                )
            )  # fmt: skip
    return frozenset(f for f in found if not f.startswith("../"))


def _make_test_composes(text: str) -> set[str]:
    """The compose files (as written, Makefile-relative) a test target's recipe starts."""
    out: set[str] = set()
    testing = False
    for line in text.splitlines():
        if line.startswith("\t"):
            if testing and "compose" in line.lower():
                plain = line.replace("$(CURDIR)/", "").replace("${CURDIR}/", "")
                for name in _COMPOSE_FILE.findall(plain):
                    if "$" not in name and name.lower().endswith((".yml", ".yaml")):
                        out.add(name)
            continue
        rule = _MAKE_RULE.match(line)
        if rule is not None:
            names = rule["targets"].split()
            testing = any(set(re.split(r"[-_./]", t.lower())) & _TEST_WORDS for t in names)
        elif line.strip() and not line.startswith((" ", "#")):
            testing = False
    return out
