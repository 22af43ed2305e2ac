"""The deploy side of ``killproof check``: Kubernetes, Dockerfiles, compose, systemd units
and the cross-layer rules, from files found by the repo walk and manifests on stdin.

Three steps: read every file into facts (unreadable ones become Skipped entries with
file:line), run the KP2xx/KP3xx/KP5xx rules on the facts, then apply suppressions
(comments, annotations, ``.killproof.yaml``) and severity overrides.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from killproof.check.deploy_facts import DeployFacts, Thresholds
from killproof.check.facts import DeployResult, GoProgram
from killproof.check.launch import compose_launches, k8s_launches, systemd_launch
from killproof.check.link import link_dockerfiles, link_launches
from killproof.check.suppress import Suppression, find_suppressions
from killproof.config import ProjectConfig, load_project_config
from killproof.errors import InputError
from killproof.model import Evidence, Finding, Location, Severity, Skipped
from killproof.rules.base import Example, Rule
from killproof.sources.compose import ComposeFile, is_compose_name, parse_compose
from killproof.sources.dockerfile import (
    Dockerfile,
    DockerfileError,
    is_dockerfile_name,
    parse_dockerfile,
)
from killproof.sources.entrypoint import Script, analyze_script, is_script_name
from killproof.sources.kustomize import (
    KUSTOMIZATION_NAMES,
    KustomizeBuild,
    KustomizeError,
    KustomizeUnsupported,
    build,
)
from killproof.sources.manifests import (
    K8sObject,
    ManifestSet,
    looks_like_manifest,
    objects_from_docs,
    parse_manifests,
)
from killproof.sources.systemd_unit import SystemdUnit, UnitError, parse_unit
from killproof.sources.yamltree import YamlError, YList, YMap, load_documents

STDIN_PATH = "<stdin>"
KUSTOMIZE_TIMEOUT_S = 60.0


def deploy_rules() -> list[Rule[Any]]:
    """The rules this side runs (KP2xx, KP3xx, KP5xx), sorted by id."""
    from killproof.rules import cross, image, k8s, systemd

    return sorted([*k8s.RULES, *image.RULES, *systemd.RULES, *cross.RULES], key=lambda r: r.id)


class _Reader:
    """Reads the walked files once, remembering texts (for suppressions) and problems."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.resolved = root.resolve()
        self.prefix = str(self.resolved).rstrip(os.sep) + os.sep
        self.texts: dict[str, str] = {}
        self.skipped: list[Skipped] = []

    def rel(self, path: Path) -> str:
        text = str(path)
        if text.startswith(self.prefix):  # the walk hands absolute paths under the root
            return text[len(self.prefix) :].replace(os.sep, "/")
        try:
            return path.resolve().relative_to(self.resolved).as_posix()
        except ValueError:
            return path.as_posix()

    def read(self, rel: str) -> str:
        if rel not in self.texts:
            try:
                self.texts[rel] = (self.root / rel).read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:  # callers handle OSError for every file kind
                raise OSError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        return self.texts[rel]

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def skip(self, rel: str, line: int, reason: str) -> None:
        self.skipped.append(Skipped(f"{rel}:{line}" if line else rel, reason))


def _classify(reader: _Reader, files: Sequence[Path]) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {
        k: [] for k in ("kustomize", "docker", "compose", "unit", "dropin", "script", "yaml")
    }
    for path in files:
        rel = reader.rel(path)
        name = posixpath.basename(rel)
        parent = posixpath.basename(posixpath.dirname(rel))
        if name == ".killproof.yaml":
            continue
        if name in KUSTOMIZATION_NAMES:
            kinds["kustomize"].append(posixpath.dirname(rel) or ".")
        elif is_dockerfile_name(name):
            kinds["docker"].append(rel)
        elif is_compose_name(name):
            kinds["compose"].append(rel)
        elif name.endswith(".service"):
            kinds["unit"].append(rel)
        elif name.endswith(".conf") and parent.endswith(".service.d"):
            kinds["dropin"].append(rel)
        elif name.endswith((".yaml", ".yml", ".json")):
            kinds["yaml"].append(rel)
        elif is_script_name(name):
            kinds["script"].append(rel)
    return kinds


def _kustomize(
    reader: _Reader, dirs: list[str], yaml_files: list[str]
) -> tuple[list[K8sObject], set[str]]:
    """Build top-level kustomizations (those no other one uses); return objects, consumed files."""
    builds: dict[str, KustomizeBuild | None] = {}
    consumed: set[str] = set()
    used_dirs: set[str] = set()
    objects: list[K8sObject] = []
    for d in sorted(dirs):
        try:
            result = build(d, reader.read, reader.exists)
        except KustomizeUnsupported as exc:
            builds[d] = None
            objects += _kustomize_binary(reader, d, exc)
            # The binary does not say what it read: the files under the directory are its.
            consumed |= {f for f in yaml_files if d == "." or f.startswith(d + "/")}
            continue
        except KustomizeError as exc:
            builds[d] = None
            reader.skip(exc.path, exc.line, f"kustomize: {exc.message}")
            continue
        builds[d] = result
        consumed |= result.consumed
        used_dirs |= result.subdirs
    for d, built in builds.items():
        if built is not None and d not in used_dirs:
            objects += built.objects
        consumed |= {posixpath.join(d, n) if d != "." else n for n in KUSTOMIZATION_NAMES}
    return objects, consumed


def _kustomize_binary(reader: _Reader, d: str, why: KustomizeError) -> list[K8sObject]:
    kustomize, kubectl = shutil.which("kustomize"), shutil.which("kubectl")
    if kustomize is None and kubectl is None:
        reader.skip(
            why.path,
            why.line,
            f"kustomize: {why.message}, and no kustomize/kubectl binary to build it",
        )
        return []
    argv = [kustomize, "build", d] if kustomize else [str(kubectl), "kustomize", d]
    try:
        done = subprocess.run(
            [a for a in argv if a],
            cwd=reader.root,
            capture_output=True,
            text=True,
            timeout=KUSTOMIZE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        reader.skip(why.path, why.line, f"kustomize build failed: {exc}")
        return []
    if done.returncode != 0:
        reader.skip(
            why.path, why.line, f"kustomize build failed: {done.stderr.strip().splitlines()[-1:]}"
        )
        return []
    # Built output has no lines in any file: findings name the kustomization, line unknown.
    try:
        return objects_from_docs(load_documents(done.stdout, why.path, keep_lines=False), d)
    except YamlError as exc:
        reader.skip(why.path, exc.line, f"kustomize output: {exc.message}")
        return []


def _parse_all(reader: _Reader, kinds: dict[str, list[str]], consumed: set[str]) -> dict[str, Any]:
    objects: list[K8sObject] = []
    dockerfiles: list[Dockerfile] = []
    composes: list[ComposeFile] = []
    units: list[SystemdUnit] = []
    scripts: dict[str, Script] = {}
    checked = 0
    for rel in kinds["yaml"]:
        if rel in consumed:
            continue
        try:
            text = reader.read(rel)
        except (OSError, UnicodeDecodeError) as exc:
            reader.skip(rel, 0, f"unreadable: {exc}")
            continue
        if not looks_like_manifest(text):
            continue
        if "{{" in text and "/templates/" in f"/{rel}":
            reader.skip(
                rel, 0, "Helm template: pipe `helm template` output into `killproof check -`"
            )
            continue
        try:
            objects += parse_manifests(text, rel)
            checked += 1
        except YamlError as exc:
            reader.skip(rel, exc.line, exc.message)
    for rel in kinds["docker"]:
        try:
            dockerfiles.append(parse_dockerfile(reader.read(rel), rel))
            checked += 1
        except DockerfileError as exc:
            reader.skip(rel, exc.line, exc.message)
        except (OSError, UnicodeDecodeError) as exc:
            reader.skip(rel, 0, f"unreadable: {exc}")
    for rel in kinds["compose"]:
        try:
            composes.append(parse_compose(reader.read(rel), rel))
            checked += 1
        except YamlError as exc:
            reader.skip(rel, exc.line, exc.message)
        except (OSError, UnicodeDecodeError) as exc:
            reader.skip(rel, 0, f"unreadable: {exc}")
    for rel in kinds["unit"]:
        dropins = sorted(d for d in kinds["dropin"] if posixpath.dirname(d) == f"{rel}.d")
        try:
            units.append(parse_unit(reader.read(rel), rel, [(reader.read(d), d) for d in dropins]))
            checked += 1
        except UnitError as exc:
            reader.skip(rel, exc.line, exc.message)
        except (OSError, UnicodeDecodeError) as exc:
            reader.skip(rel, 0, f"unreadable: {exc}")
    for rel in kinds["script"]:
        try:
            text = reader.read(rel)
        except (OSError, UnicodeDecodeError):
            continue
        if text.startswith("#!") or rel.endswith(".sh"):
            scripts[rel] = analyze_script(text, rel)
    return {
        "objects": objects, "dockerfiles": dockerfiles, "composes": composes,
        "units": units, "scripts": scripts, "checked": checked,
    }  # fmt: skip


def build_facts(
    objects: list[K8sObject],
    dockerfiles: list[Dockerfile],
    composes: list[ComposeFile],
    units: list[SystemdUnit],
    scripts: dict[str, Script],
    programs: Sequence[GoProgram],
    config: ProjectConfig,
) -> DeployFacts:
    """Index, link and bundle everything the rules need."""
    manifests = ManifestSet.of(objects)
    launches = list(k8s_launches(manifests))
    for compose in composes:
        launches += compose_launches(compose)
    launches += [launch for unit in units if (launch := systemd_launch(unit)) is not None]
    linked_dfs = link_dockerfiles(dockerfiles, programs)
    thresholds = Thresholds(
        overcommit_ratio=config.thresholds.get("overcommit_ratio", 2.0),
        gomemlimit_max_fraction=config.thresholds.get("gomemlimit_max_fraction", 0.95),
        startup_seconds=config.thresholds.get("startup_seconds"),
    )
    return DeployFacts(
        manifests=manifests,
        launches=tuple(link_launches(launches, programs, linked_dfs, config.pairs)),
        dockerfiles=tuple(linked_dfs),
        composes=tuple(composes),
        units=tuple(units),
        scripts=scripts,
        thresholds=thresholds,
        programs=tuple(programs),
    )


def run_rules(facts: DeployFacts) -> tuple[list[Finding], list[Skipped]]:
    """Every deploy rule on ``facts``; a rule that fails is skipped with its error, not fatal."""
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    for rule in deploy_rules():
        try:
            findings += rule.check(facts)
        except Exception as exc:  # one broken rule must not hide the others' findings
            skipped.append(Skipped(rule.id, f"rule failed: {type(exc).__name__}: {exc}"))
    return findings, skipped


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


def _kp100(s: Suppression) -> Finding:
    from killproof.rules import catalog

    rule = catalog().get("KP100")
    what = "names no rule id" if not s.rules else "gives no reason"
    message = f"killproof:ignore {what}: say which rule and why it does not apply here"
    loc = Location(s.path, s.line)
    proof = (Evidence(s.text, s.path, s.line),)
    if rule is not None:
        return rule.finding(message, loc, proof)
    return Finding("KP100", "ignore-without-reason", Severity.WARNING, message, loc, proof)


def finalize(
    findings: Iterable[Finding],
    texts: dict[str, str],
    objects: Iterable[K8sObject],
    config: ProjectConfig,
) -> list[Finding]:
    """Apply suppressions and overrides, report reasonless suppressions, merge duplicates."""
    suppressions = [s for path, text in texts.items() for s in find_suppressions(text, path)]
    covered: dict[tuple[str, int], frozenset[str]] = {}
    for s in suppressions:
        for line in {s.line, s.covers}:
            covered[(s.path, line)] = covered.get((s.path, line), frozenset()) | s.rules
    annotated = _annotation_lines(objects)
    kept: dict[tuple[str, str, int], Finding] = {}
    for found in [*findings, *(_kp100(s) for s in suppressions if not s.rules or not s.reason)]:
        f = found
        where = (f.location.path, f.location.line)
        silenced = covered.get(where, frozenset()) | annotated.get(where, frozenset())
        if f.rule != "KP100" and (f.rule in silenced or "*" in silenced):
            continue
        if config.ignores(f.rule, f.location.path):
            continue
        if f.rule in config.severity:
            f = Finding(
                f.rule, f.name, config.severity[f.rule], f.message, f.location, f.evidence, f.remedy
            )
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
    return sorted(kept.values(), key=Finding.sort_key)


def check_deploy(
    root: Path,
    files: Sequence[Path],
    programs: Sequence[GoProgram],
    stdin_text: str | None,
    config: ProjectConfig | None = None,
) -> DeployResult:
    """Check deploy files under ``root`` (``files`` are the walked, non-Go files).

    ``stdin_text`` holds manifests piped in (``killproof check -``); bad YAML there raises
    :class:`InputError` naming ``<stdin>`` and the line. ``config`` defaults to the root's
    ``.killproof.yaml``.
    """
    config = config if config is not None else load_project_config(root)
    reader = _Reader(root)
    kinds = _classify(reader, files)
    k_objects, consumed = _kustomize(reader, kinds["kustomize"], kinds["yaml"])
    parsed = _parse_all(reader, kinds, consumed)
    objects: list[K8sObject] = k_objects + parsed["objects"]
    if stdin_text is not None:
        try:
            objects += parse_manifests(stdin_text, STDIN_PATH)
        except YamlError as exc:
            raise InputError(exc.message, STDIN_PATH, exc.line) from exc
        reader.texts[STDIN_PATH] = stdin_text
    facts = build_facts(
        objects,
        parsed["dockerfiles"],
        parsed["composes"],
        parsed["units"],
        parsed["scripts"],
        programs,
        config,
    )
    findings, rule_skips = run_rules(facts)
    final = finalize(findings, reader.texts, objects, config)
    checked = parsed["checked"] + len({o.at.path for o in k_objects}) + (stdin_text is not None)
    return DeployResult(tuple(final), tuple(reader.skipped + rule_skips), checked)


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
