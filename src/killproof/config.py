"""The one place that reads the environment and configuration files.

Everything else receives a frozen :class:`Settings` built here at the CLI edge.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from killproof.errors import InputError
from killproof.model import Severity


@dataclass(frozen=True)
class Settings:
    """Run-wide settings: output colour and width, failing severity."""

    color: bool = False
    width: int = 100
    fail_on: Severity = Severity.ERROR


def process_environment() -> dict[str, str]:
    """A copy of this process's environment (what a drilled service inherits)."""
    return dict(os.environ)


def terminal_settings(
    is_tty: bool, fail_on: Severity, environ: Mapping[str, str] | None = None
) -> Settings:
    """Colour only on a terminal and never with ``NO_COLOR`` set (https://no-color.org)."""
    env = os.environ if environ is None else environ
    color = is_tty and "NO_COLOR" not in env and env.get("TERM") != "dumb"
    width = shutil.get_terminal_size((100, 24)).columns if is_tty else 100
    return Settings(color=color, width=max(width, 60), fail_on=fail_on)


# --- .killproof.yaml (project configuration) -------------------------------------------

PROJECT_CONFIG_NAME = ".killproof.yaml"
KNOWN_THRESHOLDS = {
    "overcommit_ratio": "memory limit/request ratio above which KP203 fires (default 2)",
    "gomemlimit_max_fraction": "GOMEMLIMIT/limit fraction at which KP212 fires (default 0.95)",
    "startup_seconds": "worst start-up time when no readiness probe states it (KP208)",
}


@dataclass(frozen=True)
class IgnoreEntry:
    """Ignore ``rule`` (an id, or ``*``) in files matching any of ``paths`` (all when
    empty), for the ``reason`` given (as an inline ``killproof:ignore`` gives one)."""

    rule: str
    paths: tuple[str, ...] = ()
    reason: str = ""


def excluded(path: str, glob: str) -> bool:
    """True when ``path`` (POSIX) or one of its parent directories matches ``glob``
    (``*`` also crosses ``/``; a trailing ``/`` or ``/**`` names a directory)."""
    pattern = glob.strip().rstrip("/")
    if pattern.endswith("/**"):
        pattern = pattern[:-3]
    pattern = pattern.removeprefix("./")
    parts = path.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))


@dataclass(frozen=True)
class ProjectConfig:
    """What ``.killproof.yaml`` says: ignored rules, severity overrides, thresholds, pairs.

    ``pairs`` maps a deploy name (workload, ``Kind/name``, container, compose service, unit)
    to a Go main package directory relative to the root.
    """

    ignore: tuple[IgnoreEntry, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    pairs: Mapping[str, str] = field(default_factory=dict)
    path: str = ""
    include_tests: bool = False
    """Judge test and tooling trees too (``include_tests: true``; see check/scope.py)."""
    exclude: tuple[str, ...] = ()
    """Globs of files (root-relative) not to read at all (``exclude:``, ``--exclude``)."""

    def ignores(self, rule: str, path: str) -> bool:
        """True when ``rule`` is ignored for the file at ``path`` (root-relative)."""
        for entry in self.ignore:
            if entry.rule not in (rule, "*"):
                continue
            if not entry.paths or any(fnmatch.fnmatch(path, glob) for glob in entry.paths):
                return True
        return False


def load_project_config(root: Path, explicit: Path | None = None) -> ProjectConfig:
    """Read ``.killproof.yaml`` in ``root`` (or ``explicit``); an empty config when absent.

    Raises :class:`~killproof.errors.InputError` naming the file and line on a bad entry.
    """
    path = explicit or root / PROJECT_CONFIG_NAME
    if not path.is_file():
        if explicit is not None:
            raise InputError("config file not found", str(path))
        return ProjectConfig()
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config: {exc}", name) from exc
    return parse_project_config(text, name)


def parse_project_config(text: str, name: str) -> ProjectConfig:
    """Parse the text of a ``.killproof.yaml`` (``name`` is used in error messages)."""
    from killproof.sources.deploy.yamltree import YamlError, YList, YMap, load_documents

    try:
        docs = load_documents(text, name)
    except YamlError as exc:
        raise InputError(exc.message, name, exc.line) from exc
    if not docs:
        return ProjectConfig(path=name)
    doc = docs[0]
    if not isinstance(doc, YMap):
        raise InputError("expected a mapping at the top level", name, 1)
    known = {"ignore", "severity", "thresholds", "pairs", "include_tests", "exclude"}
    for key in doc:
        if key not in known:
            raise InputError(
                f"unknown key {key!r} (expected {', '.join(sorted(known))})",
                name,
                doc.pos(key).line,
            )

    ignore: list[IgnoreEntry] = []
    raw_ignore = doc.get("ignore") or YList(doc.at)
    if not isinstance(raw_ignore, YList):
        raise InputError("'ignore' must be a list", name, doc.pos("ignore").line)
    for item, at in zip(raw_ignore, raw_ignore.item_at, strict=False):
        if isinstance(item, str):
            ignore.append(IgnoreEntry(_rule_id(item, name, at.line)))
        elif isinstance(item, YMap) and ("rule" in item or "rules" in item):
            rules = item.get("rules", [item.get("rule")])
            paths = item.get("paths", [item["path"]] if "path" in item else [])
            if not isinstance(rules, list) or not isinstance(paths, list):
                raise InputError("'rules' and 'paths' must be lists", name, at.line)
            unknown = set(item) - {"rule", "rules", "path", "paths", "reason"}
            if unknown:
                raise InputError(
                    f"unknown key {sorted(unknown)[0]!r} in an ignore entry "
                    "(expected rule/rules, path/paths, reason)",
                    name,
                    at.line,
                )
            reason = item.get("reason", "")
            if not isinstance(reason, str):
                raise InputError("'reason' must be text", name, at.line)
            for rule in rules:
                ignore.append(
                    IgnoreEntry(
                        _rule_id(str(rule), name, at.line),
                        tuple(str(p) for p in paths),
                        reason.strip(),
                    )
                )
        else:
            raise InputError(
                "an ignore entry is a rule id or {rule: ID, paths: [GLOB], reason: TEXT}",
                name,
                at.line,
            )

    severity: dict[str, Severity] = {}
    raw_sev = doc.get("severity") or YMap(doc.at)
    if not isinstance(raw_sev, YMap):
        raise InputError(
            "'severity' must map rule ids to error/warning/info", name, doc.pos("severity").line
        )
    for rule, value in raw_sev.items():
        try:
            severity[_rule_id(rule, name, raw_sev.pos(rule).line)] = Severity(str(value).lower())
        except ValueError as exc:
            raise InputError(
                f"severity {value!r} is not error, warning or info", name, raw_sev.pos(rule).line
            ) from exc

    thresholds: dict[str, float] = {}
    raw_thr = doc.get("thresholds") or YMap(doc.at)
    if not isinstance(raw_thr, YMap):
        raise InputError("'thresholds' must be a mapping", name, doc.pos("thresholds").line)
    for key, value in raw_thr.items():
        line = raw_thr.pos(key).line
        if key not in KNOWN_THRESHOLDS:
            raise InputError(
                f"unknown threshold {key!r} (known: {', '.join(sorted(KNOWN_THRESHOLDS))})",
                name,
                line,
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InputError(f"threshold {key} must be a positive number", name, line)
        thresholds[key] = float(value)

    pairs: dict[str, str] = {}
    raw_pairs = doc.get("pairs") or YList(doc.at)
    if not isinstance(raw_pairs, YList):
        raise InputError(
            "'pairs' must be a list of {program: DIR, deploy: NAME}", name, doc.pos("pairs").line
        )
    for item, at in zip(raw_pairs, raw_pairs.item_at, strict=False):
        if (
            not isinstance(item, YMap)
            or not isinstance(item.get("program"), str)
            or not isinstance(item.get("deploy"), str)
        ):
            raise InputError("a pair is {program: DIR, deploy: NAME}", name, at.line)
        pairs[item["deploy"]] = item["program"]
    include_tests = doc.get("include_tests", False)
    if not isinstance(include_tests, bool):
        raise InputError(
            "'include_tests' must be true or false", name, doc.pos("include_tests").line
        )
    raw_exclude = doc.get("exclude") or []
    if not isinstance(raw_exclude, list) or not all(isinstance(g, str) for g in raw_exclude):
        raise InputError("'exclude' must be a list of globs", name, doc.pos("exclude").line)
    return ProjectConfig(
        tuple(ignore), severity, thresholds, pairs, name, include_tests, tuple(raw_exclude)
    )


def _rule_id(text: str, name: str, line: int) -> str:
    rule = text.strip().upper()
    if rule != "*" and not re.fullmatch(r"KP\d{3}", rule):
        raise InputError(f"{text!r} is not a rule id (KPnnn)", name, line)
    return rule
