"""``check`` in a CI job: broken files fail the run (KP001), several roots keep their own
paths, and the flags people expect from other linters (--fail-on none, --config,
--exclude, --enable/--disable, rules --format json, explain by name) do what they say."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killproof.check.go import _unparsed
from killproof.check.gofmt import GofmtVerdict
from killproof.cli import main
from killproof.config import excluded, parse_project_config
from killproof.errors import InputError
from killproof.model import Severity
from killproof.sources.golang.parse import SyntaxProblem

REPO = Path(__file__).resolve().parent.parent
ORDERS = REPO / "examples" / "orders"
BAD_INDENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders\n   namespace: shop\n"
)


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """``killproof check --format json ARGS`` in the current directory."""
    code = main(["check", "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def where(report: dict[str, Any]) -> set[tuple[str, str, int]]:
    """(rule, path, line) of every finding."""
    return {(f["rule"], f["path"], f["line"]) for f in report["findings"]}


# --- a broken file fails the run -------------------------------------------------------


def test_a_manifest_with_bad_indentation_is_a_kp001_error_and_fails_ci(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "app.yaml").write_text(BAD_INDENT)
    monkeypatch.chdir(tmp_path)
    code, report = check_json(capsys)
    assert code == 1
    [finding] = report["findings"]
    assert (finding["rule"], finding["path"], finding["line"]) == ("KP001", "deploy/app.yaml", 5)
    assert finding["severity"] == "error" and finding["name"] == "file-not-read"
    assert "kubectl apply --dry-run=client -f deploy/app.yaml" in finding["remedy"]
    assert report["skipped"] == []
    # --fail-on none reports it and still exits 0; --disable KP001 drops it.
    assert check_json(capsys, "--fail-on", "none")[0] == 0
    assert check_json(capsys, "--disable", "KP001") == (
        0,
        check_json(capsys, "--enable", "KP109")[1],
    )


def test_go_the_parser_cannot_read_is_a_warning_when_gofmt_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Go newer than tree-sitter-go may well build: a warning, not a failed CI job."""
    problem = SyntaxProblem(3, 7, "unexpected input")
    monkeypatch.setattr("killproof.check.go.gofmt_syntax_error", lambda _src: GofmtVerdict.READS)
    newer = _unparsed("api.go", b"package api\n", problem)
    assert (newer.path, newer.line, newer.failure) == ("api.go", 3, Severity.WARNING)
    assert "gofmt reads it" in newer.reason
    monkeypatch.setattr("killproof.check.go.gofmt_syntax_error", lambda _src: GofmtVerdict.ABSENT)
    unknown = _unparsed("api.go", b"package api\n", problem)
    assert unknown.failure is Severity.WARNING and "no gofmt" in unknown.reason


def test_kp001_is_in_the_catalog_with_full_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--format", "json"]) == 0
    rules = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    kp001 = rules["KP001"]
    assert (kp001["name"], kp001["severity"]) == ("file-not-read", "error")
    assert set(kp001["docs"]) == {
        "What it checks",
        "Why it gets you killed",
        "Example",
        "Fix",
        "References",
    }
    assert all(kp001["docs"].values())
    assert rules["KP109"]["name"] == "unbounded-cache"


def test_explain_by_name_is_explain_by_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "unbounded-cache"]) == 0
    by_name = capsys.readouterr().out
    assert main(["explain", "KP109"]) == 0
    assert by_name == capsys.readouterr().out
    assert by_name.startswith("# KP109 unbounded-cache")
    assert main(["explain", "file-not-read"]) == 0
    assert capsys.readouterr().out.startswith("# KP001 file-not-read (error)")
    assert main(["explain", "no-such-rule"]) == 2


# --- several roots ----------------------------------------------------------------------


def test_two_copies_of_a_service_give_twice_the_findings_each_under_its_own_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ORDERS, tmp_path / "svc-a")
    shutil.copytree(ORDERS, tmp_path / "svc-b")
    monkeypatch.chdir(tmp_path / "svc-a")
    _, alone = check_json(capsys)
    monkeypatch.chdir(tmp_path)
    _, both = check_json(capsys, "svc-a", "svc-b")
    single = where(alone)
    assert single, "examples/orders has findings"
    assert where(both) == {(r, f"{svc}/{p}", n) for r, p, n in single for svc in ("svc-a", "svc-b")}
    assert len(both["findings"]) == 2 * len(alone["findings"])
    # Evidence lines name the same files, through the same root.
    for f in both["findings"]:
        root = f["path"].split("/")[0]
        assert all(e["path"].startswith(root + "/") for e in f["evidence"] if e["path"])


def test_a_file_argument_prints_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "app.yaml").write_text(BAD_INDENT)
    monkeypatch.chdir(tmp_path)
    _, report = check_json(capsys, "k8s/app.yaml")
    assert where(report) == {("KP001", "k8s/app.yaml", 5)}


# --- flags ------------------------------------------------------------------------------


def test_exclude_enable_disable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ORDERS, tmp_path / "svc-a")
    shutil.copytree(ORDERS, tmp_path / "svc-b")
    monkeypatch.chdir(tmp_path)
    _, full = check_json(capsys, "svc-a", "svc-b")
    _, no_b = check_json(capsys, "svc-a", "svc-b", "--exclude", "svc-b")
    assert where(no_b) == {w for w in where(full) if w[1].startswith("svc-a/")}
    _, no_go = check_json(capsys, "svc-a", "--exclude", "*.go", "--exclude", "deploy/**")
    assert no_go["metadata"]["go_files_checked"] == 0
    assert not any(p.endswith(".go") or "/deploy/" in p for _, p, _ in where(no_go))
    assert where(no_go), "the Dockerfile and compose file are still read"
    _, only = check_json(capsys, "svc-a", "--enable", "KP109", "--enable", "pprof-exposed")
    assert {r for r, _, _ in where(only)} == {"KP109", "KP108"}
    _, without = check_json(capsys, "svc-a", "--disable", "KP109,KP108")
    assert {r for r, _, _ in where(without)} == {
        r for r, p, _ in where(full) if p.startswith("svc-a/")
    } - {"KP109", "KP108"}
    assert main(["check", "svc-a", "--disable", "KP9999"]) == 2


def test_config_file_applies_to_every_root_and_its_ignores_take_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ORDERS, tmp_path / "svc-a")
    shutil.copytree(ORDERS, tmp_path / "svc-b")
    config = tmp_path / "ci.yaml"
    config.write_text(
        "ignore:\n  - rule: KP109\n    paths: ['cache.go']\n"
        "    reason: responses are bounded by the 12 product ids\n"
        "exclude:\n  - deploy/**\n"
    )
    monkeypatch.chdir(tmp_path)
    _, report = check_json(capsys, "svc-a", "svc-b", "--config", str(config))
    assert not [w for w in where(report) if w[0] == "KP109" or "/deploy/" in w[1]]
    assert {w[1].split("/")[0] for w in where(report)} == {"svc-a", "svc-b"}
    assert main(["check", "svc-a", "--config", "missing.yaml"]) == 2


def test_config_reason_and_exclude_are_parsed_and_checked() -> None:
    config = parse_project_config(
        "ignore:\n  - rule: kp109\n    reason: bounded by design\nexclude: [gen/**]\n", "k.yaml"
    )
    [entry] = config.ignore
    assert (entry.rule, entry.reason) == ("KP109", "bounded by design")
    assert config.exclude == ("gen/**",)
    with pytest.raises(InputError, match="unknown key 'because'") as bad:
        parse_project_config("ignore:\n  - rule: KP109\n    because: x\n", "k.yaml")
    assert bad.value.line == 2
    with pytest.raises(InputError, match="'exclude' must be a list of globs"):
        parse_project_config("exclude: gen\n", "k.yaml")


def test_fail_on_none_exits_0_with_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ORDERS)
    code, report = check_json(capsys, "--fail-on", "none")
    assert code == 0
    assert any(f["severity"] == "error" for f in report["findings"])
    assert check_json(capsys)[0] == 1


# --- this repository ----------------------------------------------------------------------


def test_check_at_this_repository_root_reports_no_fixture_and_errors_only_in_examples() -> None:
    """`check .` here: tests/fixtures are left out, the examples (broken on purpose, see
    README) are reported and labelled; nothing else is at error severity."""
    done = subprocess.run(
        [sys.executable, "-m", "killproof.cli", "check", ".", "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = json.loads(done.stdout)
    paths = {f["path"] for f in report["findings"]}
    assert not [p for p in paths if p.startswith("tests/")]
    errors = {f["path"] for f in report["findings"] if f["severity"] == "error"}
    assert errors and all(p.startswith("examples/") for p in errors), errors
    assert all(
        "example (examples/)" in f["subject"]
        for f in report["findings"]
        if f["path"].startswith("examples/")
    )


def test_docs_config_example_parses_and_uses_every_key() -> None:
    """docs/config.md's full example is a valid config that sets every key there is."""
    from killproof.config import KNOWN_THRESHOLDS

    text = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_project_config(example, "docs/config.md")
    assert config.ignore and config.severity and config.pairs and config.exclude
    assert set(config.thresholds) == set(KNOWN_THRESHOLDS)
    assert all(e.reason for e in config.ignore if e.paths)
    for key in ("ignore:", "severity:", "thresholds:", "pairs:", "include_tests:", "exclude:"):
        assert f"\n{key}" in example, key


SEGMENT = st.text(alphabet="abcxyz_-.0", min_size=1, max_size=6).filter(lambda s: s not in ".")


@given(st.lists(SEGMENT, min_size=1, max_size=5), st.integers(min_value=1, max_value=5))
def test_a_directory_glob_excludes_everything_below_it_and_nothing_beside_it(
    parts: list[str], cut: int
) -> None:
    path = "/".join(parts)
    directory = "/".join(parts[: min(cut, len(parts))])
    for glob in (directory, directory + "/", directory + "/**", "./" + directory):
        assert excluded(path, glob), (path, glob)
    assert not excluded(path, directory + "-other")
    assert not excluded("other-" + path, directory) or directory.startswith("other-")
