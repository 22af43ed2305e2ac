"""The deploy side of ``killproof check``: Kubernetes, Dockerfiles, compose, systemd units
and the cross-layer rules, from files found by the repo walk and manifests on stdin.

Three steps: read every file into facts (unreadable ones become Skipped entries with
file:line), run the KP2xx/KP3xx/KP5xx rules on the facts, then apply suppressions
(comments, annotations, ``.killproof.yaml``) and severity overrides.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from killproof.check.copies import renamed_copies
from killproof.check.deploy_isolate import isolate_objects
from killproof.check.deploy_read import DeployFiles, read_deploy_files
from killproof.check.launch import compose_launches, k8s_launches, systemd_launch
from killproof.check.link import built_names, link_dockerfiles, link_launches
from killproof.check.results import DeployResult
from killproof.check.scaffold import scaffolding
from killproof.config import ProjectConfig, load_project_config
from killproof.errors import InputError
from killproof.facts.deploy import DeployFacts, Thresholds
from killproof.facts.go_program import GoProgram
from killproof.model import Evidence, Finding, Location, Skipped, counted
from killproof.rules import engine
from killproof.rules.base import Example, Rule
from killproof.rules.engine import RuleBudget
from killproof.rules.suppress import decide
from killproof.sources.deploy.compose import ComposeFile
from killproof.sources.deploy.dockerfile import (
    Dockerfile,
)
from killproof.sources.deploy.entrypoint import Script
from killproof.sources.deploy.manifests import (
    K8sObject,
    ManifestSet,
    parse_manifests,
)
from killproof.sources.deploy.systemd_unit import SystemdUnit
from killproof.sources.deploy.yamltree import YamlError, YList, YMap
from killproof.suppression import find_suppressions, silenced_lines

STDIN_PATH = "<stdin>"


def deploy_rules() -> list[Rule[Any]]:
    """The rules this side runs (KP2xx, KP3xx, KP5xx), sorted by id."""
    from killproof.rules import cross, image, k8s, launch, systemd

    rules = [*k8s.RULES, *launch.RULES, *image.RULES, *systemd.RULES, *cross.RULES]
    return sorted(rules, key=lambda r: r.id)


def build_facts(
    objects: list[K8sObject],
    dockerfiles: list[Dockerfile],
    composes: list[ComposeFile],
    units: list[SystemdUnit],
    scripts: dict[str, Script],
    programs: Sequence[GoProgram],
    config: ProjectConfig,
) -> DeployFacts:
    """Index, link and bundle everything the rules need (tutorial scaffolding left out)."""
    linked_dfs = link_dockerfiles(dockerfiles, programs)
    left_out = scaffolding(objects, programs, built_names(linked_dfs)) | renamed_copies(objects)
    manifests = ManifestSet.of(o for o in objects if id(o) not in left_out)
    launches = list(k8s_launches(manifests))
    for compose in composes:
        launches += compose_launches(compose)
    launches += [launch for unit in units if (launch := systemd_launch(unit)) is not None]
    thresholds = Thresholds(
        overcommit_ratio=config.thresholds.get("overcommit_ratio", 2.0),
        gomemlimit_max_fraction=config.thresholds.get("gomemlimit_max_fraction", 0.95),
        startup_seconds=config.thresholds.get("startup_seconds"),
    )
    return DeployFacts(
        manifests=manifests,
        launches=tuple(link_launches(launches, programs, linked_dfs, config.pairs, scripts)),
        dockerfiles=tuple(linked_dfs),
        composes=tuple(composes),
        units=tuple(units),
        scripts=scripts,
        thresholds=thresholds,
        programs=tuple(programs),
    )


def run_rules(
    facts: DeployFacts, rules: Sequence[Rule[DeployFacts]] | None = None
) -> tuple[list[Finding], list[Skipped]]:
    """Every deploy rule (or ``rules``) on ``facts``. A rule that fails on an object skips
    that object (with the rule and the object's file:line); one over its time budget is
    skipped; neither is fatal, nor hides another rule's findings."""
    chosen = deploy_rules() if rules is None else rules
    return engine.run(chosen, facts, RuleBudget(), isolate=isolate_objects)


def _annotation_lines(objects: Iterable[K8sObject]) -> dict[tuple[str, int], frozenset[str]]:
    out: dict[tuple[str, int], frozenset[str]] = {}
    for obj in objects:
        rules = obj.ignored_rules
        if not rules:
            continue
        stack: list[Any] = [obj.body]
        while stack:
            node = stack.pop()
            if isinstance(node, YMap):
                for key, value in node.items():
                    at = node.pos(key)
                    out[(at.path, at.line)] = out.get((at.path, at.line), frozenset()) | rules
                    stack.append(value)
                out[(node.at.path, node.at.line)] = (
                    out.get((node.at.path, node.at.line), frozenset()) | rules
                )
            elif isinstance(node, YList):
                stack.extend(node)
    return out


def finalize(
    findings: Iterable[Finding],
    texts: dict[str, str],
    objects: Iterable[K8sObject],
    config: ProjectConfig,
) -> tuple[list[Finding], list[Skipped]]:
    """Apply suppressions and overrides (:func:`killproof.rules.suppress.decide`), report
    reasonless suppressions (KP100), merge duplicates; and what KP100 could not judge."""
    from killproof.rules.go import SUPPRESSION_RULES

    suppressions = [s for path, text in texts.items() for s in find_suppressions(text, path)]
    silenced = silenced_lines(suppressions)
    for where, ids in _annotation_lines(objects).items():
        silenced[where] = silenced.get(where, frozenset()) | ids
    unexplained, unjudged = engine.run(SUPPRESSION_RULES, suppressions)
    kept: dict[tuple[str, str, int], Finding] = {}
    for f in decide([*findings, *unexplained], silenced, config):
        key = (f.rule, f.location.path, f.location.line)
        if key in kept:  # the same line judged again through another overlay or launch
            prior = kept[key]
            subjects = sorted({*prior.location.subject.split("; "), f.location.subject} - {""})
            loc = Location(
                prior.location.path, prior.location.line, prior.location.column, "; ".join(subjects)
            )
            kept[key] = Finding(
                prior.rule,
                prior.name,
                prior.severity,
                prior.message,
                loc,
                prior.evidence,
                prior.remedy,
            )
        else:
            kept[key] = f
    lines: dict[str, list[str]] = {}
    quoted = sorted((_quote(f, texts, lines) for f in kept.values()), key=Finding.sort_key)
    return quoted, unjudged


def _quote(finding: Finding, texts: dict[str, str], split: dict[str, list[str]]) -> Finding:
    """Put the flagged line itself first in the evidence (what the reader must change).

    ``split`` keeps each text's lines once split (a file often holds many findings).
    """
    loc = finding.location
    text = texts.get(loc.path)
    if text is None or loc.line <= 0:
        return finding
    lines = split.get(loc.path)
    if lines is None:
        lines = split[loc.path] = text.splitlines()
    if loc.line > len(lines):
        return finding
    quoted = Evidence(lines[loc.line - 1].strip(), loc.path, loc.line)
    if quoted in finding.evidence or not quoted.text:
        return finding
    return dataclasses.replace(finding, evidence=(quoted, *finding.evidence))


def _helm_sources(text: str) -> list[tuple[int, str]]:
    """(line, template) of each ``# Source:`` comment `helm template` writes."""
    return [
        (number, line[len("# Source: ") :].strip())
        for number, line in enumerate(text.splitlines(), 1)
        if line.startswith("# Source: ")
    ]


def _with_template(finding: Finding, sources: list[tuple[int, str]]) -> Finding:
    """Name the chart template a stdin finding is in (the last ``# Source:`` above it)."""
    loc = finding.location
    index = bisect.bisect_right(sources, (loc.line, "\uffff")) - 1
    if loc.path != STDIN_PATH or index < 0:
        return finding
    template = sources[index][1]
    subject = f"{template}: {loc.subject}" if loc.subject else template
    where = Location(loc.path, loc.line, loc.column, subject)
    return Finding(
        finding.rule, finding.name, finding.severity, finding.message, where,
        finding.evidence, finding.remedy,
    )  # fmt: skip


@dataclass(frozen=True)
class DeployRead:
    """The deploy files of one root read into facts, before any rule runs: what
    :func:`~killproof.check.repo.read_repo` hands to ``check`` and ``drill PATH`` alike."""

    files: DeployFiles
    objects: tuple[K8sObject, ...]
    """Every Kubernetes object read (kustomize overlays built; stdin's included)."""
    facts: DeployFacts
    """Objects indexed, launches linked to the Go programs (what the rules judge)."""
    stdin_text: str | None = None


def read_deploy(
    root: Path,
    files: Sequence[Path],
    programs: Sequence[GoProgram],
    stdin_text: str | None,
    config: ProjectConfig,
) -> DeployRead:
    """Read deploy files under ``root`` (``files`` are the walked, non-Go files) and link
    their launches to ``programs``.

    ``stdin_text`` holds manifests piped in (``killproof check -``); bad YAML there raises
    :class:`InputError` naming ``<stdin>`` and the line.
    """
    read = read_deploy_files(root, tuple(files), skip_test_headers=not config.include_tests)
    objects = list(read.objects)
    if stdin_text is not None:
        try:
            objects += parse_manifests(stdin_text, STDIN_PATH)
        except YamlError as exc:
            raise InputError(exc.message, STDIN_PATH, exc.line) from exc
        read.texts[STDIN_PATH] = stdin_text
    facts = build_facts(
        objects, read.dockerfiles, read.composes, read.units, read.scripts, programs, config
    )
    return DeployRead(read, tuple(objects), facts, stdin_text)


def judge_deploy(read: DeployRead, config: ProjectConfig) -> DeployResult:
    """Run the deploy rules on what :func:`read_deploy` read, then apply suppressions."""
    findings, rule_skips = run_rules(read.facts)
    facts = read.facts
    tutorial = len(scaffolding(list(read.objects), facts.programs, built_names(facts.dockerfiles)))
    if tutorial:
        rule_skips.append(
            Skipped(
                f"{counted(tutorial, 'tutorial workload')} in examples/docs",
                "third-party images that run no program of this repo (a walkthrough's echo "
                "server, a database to try the project with): not judged",
            )
        )
    final, unjudged = finalize(findings, read.files.texts, read.objects, config)
    stdin_text = read.stdin_text
    if stdin_text is not None and "# Source: " in stdin_text:
        sources = _helm_sources(stdin_text)
        final = [_with_template(f, sources) for f in final]
    checked = read.files.checked + (stdin_text is not None)
    return DeployResult(
        tuple(final),
        tuple(read.files.skipped + rule_skips + unjudged),
        checked,
        tuple(read.files.left_out),
    )


def check_deploy(
    root: Path,
    files: Sequence[Path],
    programs: Sequence[GoProgram],
    stdin_text: str | None,
    config: ProjectConfig | None = None,
) -> DeployResult:
    """Read and judge deploy files under ``root`` (:func:`read_deploy`, then
    :func:`judge_deploy`). ``config`` defaults to the root's ``.killproof.yaml``."""
    config = config if config is not None else load_project_config(root)
    return judge_deploy(read_deploy(root, files, programs, stdin_text, config), config)


_DEFAULT_NAMES = {
    "yaml": "manifest.yaml",
    "dockerfile": "Dockerfile",
    "compose": "compose.yaml",
    "systemd": "app.service",
}


def split_archive(source: str, first_name: str) -> dict[str, str]:
    """A txtar-style example: text before the first ``-- name --`` line is ``first_name``."""
    files: dict[str, list[str]] = {first_name: []}
    current = first_name
    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("-- ") and stripped.endswith(" --") and len(stripped) > 6:
            current = stripped[3:-3].strip()
            files[current] = []
            continue
        files[current].append(line)
    return {name: "".join(lines) for name, lines in files.items()}


def check_example(example: Example) -> list[Finding]:
    """Run the deploy side on one rule example written to a temporary directory.

    Examples may carry more files after ``-- path --`` lines (Go code, go.mod, scripts);
    Go files are checked by the Go side so cross-layer examples use real facts.
    """
    import tempfile  # examples only: not on the path of a check

    name = example.filename or _DEFAULT_NAMES.get(example.language, "manifest.yaml")
    with tempfile.TemporaryDirectory(prefix="killproof-example-") as tmp:
        root = Path(tmp)
        written: list[Path] = []
        for rel, text in split_archive(example.source, name).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        go_files = [p for p in written if p.suffix == ".go"]
        programs: Sequence[GoProgram] = ()
        if go_files:
            from killproof.check.go import check_go

            programs = check_go(root, go_files, jobs=1).programs
        others = [p for p in written if p.suffix not in (".go", ".mod")]
        return list(check_deploy(root, others, programs, None, ProjectConfig()).findings)
