"""bench/check_precision.py: findings are matched to hand judgments across small edits,
the sample is stable, snapshot trees export without their missing blobs, and the
weighted estimate counts each judged finding for what it stands for."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

BENCH = Path(__file__).resolve().parent.parent / "bench" / "check_precision.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_precision", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_precision"] = module
    spec.loader.exec_module(module)
    return module


cp = _load()

MSG = "http.Client without Timeout: a slow upstream holds the goroutine for 30 s"


def finding(
    rule: str = "KP114",
    path: str = "a/client.go",
    line: int = 10,
    message: str = MSG,
    subject: str = "",
    severity: str = "warning",
) -> Any:
    return cp.Finding(rule, severity, path, line, subject, message)


def judgment(
    rule: str = "KP114",
    path: str = "a/client.go",
    line: int = 10,
    message: str = MSG,
    subject: str = "",
    verdict: str = "true",
) -> Any:
    return cp.Judgment(rule, path, line, subject, message, verdict, "reason")


def test_fingerprint_ignores_numbers_quote_style_and_spacing() -> None:
    a = cp.fingerprint("ENTRYPOINT '/app/orders' in shell form at line 13")
    b = cp.fingerprint("ENTRYPOINT  `/app/orders` in shell form at line 14")
    assert a == b
    assert cp.fingerprint("limit 128Mi") != cp.fingerprint("request 128Mi")


def test_a_judgment_follows_its_finding_when_lines_shift() -> None:
    pairs = cp.match([finding(line=14)], [judgment(line=10)])
    assert pairs[0].line == 10


def test_the_nearest_line_wins_between_two_findings_with_one_message() -> None:
    findings = [finding(line=40), finding(line=12)]
    pairs = cp.match(findings, [judgment(line=10, verdict="false")])
    assert list(pairs) == [1]
    assert pairs[1].verdict == "false"


def test_a_reworded_message_still_matches_by_subject_then_by_line() -> None:
    by_subject = cp.match(
        [finding(rule="KP201", line=30, message="new words", subject="Deployment/x container y")],
        [judgment(rule="KP201", line=3, message="old words", subject="Deployment/x container y")],
    )
    assert 0 in by_subject
    by_line = cp.match([finding(line=12, message="new words")], [judgment(line=10)])
    assert 0 in by_line
    too_far = cp.match([finding(line=10 + cp.LINE_SLACK + 1, message="new")], [judgment()])
    assert too_far == {}


def test_no_match_across_rules_or_files() -> None:
    assert cp.match([finding(rule="KP115")], [judgment()]) == {}
    assert cp.match([finding(path="b/client.go")], [judgment()]) == {}


def test_each_judgment_pairs_once_except_with_identical_findings() -> None:
    reworded = [finding(line=10, message="one"), finding(line=11, message="two")]
    assert len(cp.match(reworded, [judgment(line=10, message="zero")])) == 1
    twins = [finding(line=10), finding(line=10)]
    assert len(cp.match(twins, [judgment(line=10)])) == 2


def test_the_sample_holds_every_error_and_the_requested_number_of_others() -> None:
    findings = [finding(line=i, message=f"m{i}") for i in range(50)]
    findings += [finding(line=100 + i, severity="error", message=f"e{i}") for i in range(5)]
    sample = cp.choose_sample("p", findings, 30)
    assert {i for i, f in enumerate(findings) if f.severity == "error"} <= sample
    assert len(sample) == 35


@given(st.integers(min_value=0, max_value=39), st.integers(min_value=1, max_value=20))
def test_removing_a_finding_never_evicts_another_from_the_sample(drop: int, size: int) -> None:
    findings = [finding(line=i, message=f"m{i}") for i in range(40)]
    before = {findings[i] for i in cp.choose_sample("p", findings, size)}
    rest = findings[:drop] + findings[drop + 1 :]
    after = {rest[i] for i in cp.choose_sample("p", rest, size)}
    assert before - {findings[drop]} <= after


def test_weights_stand_a_sampled_finding_for_its_share_of_the_unsampled() -> None:
    project = cp.Project("p", "o/p", "0" * 40, "dev")
    findings = [finding(severity="error", message="e")]
    findings += [finding(line=i, message=f"m{i}") for i in range(4)]
    sample = cp.choose_sample("p", findings, 2)
    verdicts = {i: judgment(verdict="true" if i == 0 else "false") for i in sample}
    outcome = cp.Outcome(project, findings, sample, verdicts, 0.0)
    assert outcome.weight(0) == 1.0
    assert all(outcome.weight(i) == 2.0 for i in sample if i != 0)
    _, _, total = cp.tallies([outcome])
    assert (total.true, total.false, total.findings, total.judged) == (1, 2, 5, 3)
    assert total.precision == pytest.approx(1 / 3)
    assert total.estimate == pytest.approx(1 / 5)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_export_writes_present_blobs_and_counts_missing_ones(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "keep").mkdir()
    (repo / "keep" / "main.go").write_text("package main\n")
    (repo / "big.bin").write_text("pretend this is over the snapshot's size limit\n")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    commit = _git(repo, "rev-parse", "HEAD")
    big = _git(repo, "rev-parse", "HEAD:big.bin")
    (repo / ".git" / "objects" / big[:2] / big[2:]).unlink()

    out = tmp_path / "out"
    missing = cp.export_tree(repo / ".git", commit, out)
    assert missing == 1
    assert (out / "keep" / "main.go").read_text() == "package main\n"
    assert not (out / "big.bin").exists()


def test_tables_replace_only_the_marked_part_of_a_document(tmp_path: Path) -> None:
    doc = tmp_path / "precision.md"
    doc.write_text(f"# Title\n\nprose\n{cp.BEGIN}\nold tables\n{cp.END}\n\nmore prose\n")
    cp.write_tables(doc, "| new |\n")
    assert doc.read_text() == f"# Title\n\nprose\n{cp.BEGIN}\n| new |\n{cp.END}\n\nmore prose\n"


def test_false_findings_are_counted_by_kind_and_set() -> None:
    dev = cp.Project("d", "o/d", "0" * 40, "dev")
    held = cp.Project("h", "o/h", "0" * 40, "heldout")
    f = finding()
    wrong = cp.Judgment("KP114", "a/client.go", 10, "", MSG, "false", "r", "client-deadline")
    right = cp.Judgment("KP114", "a/client.go", 10, "", MSG, "true", "r")
    outcomes = [
        cp.Outcome(dev, [f, f], {0, 1}, {0: wrong, 1: right}, 0.0),
        cp.Outcome(held, [f], {0}, {0: wrong}, 0.0),
    ]
    rows = cp.kind_table(outcomes)
    assert rows[0] == "| kind | rules | dev | heldout | all |"
    assert rows[2:] == ["| client-deadline | KP114 | 1 | 1 | 2 |"]


def test_set_heldout2_measures_only_the_projects_of_that_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    projects = tmp_path / "projects.json"
    projects.write_text(
        '[{"name": "d", "repo": "o/d", "commit": "' + "0" * 40 + '", "set": "dev"},'
        ' {"name": "h2", "repo": "o/h2", "commit": "' + "1" * 40 + '", "set": "heldout2"}]'
    )
    measured: list[str] = []

    def fake_measure(project: Any, *_args: Any) -> Any:
        measured.append(project.name)
        return cp.Outcome(project, [finding()], {0}, {}, 0.1)

    monkeypatch.setattr(cp, "measure", fake_measure)
    assert cp.main(["--projects", str(projects), "--set", "heldout2", "--judgments", "none"]) == 0
    assert measured == ["h2"]
    assert "| heldout2 | 1 | 0 |" in capsys.readouterr().out


def test_every_heldout2_judgment_has_a_verdict_a_reason_and_a_pinned_project() -> None:
    data = BENCH.parent / "precision"
    projects = {p.name: p for p in cp.load_projects(data / "projects.json")}
    judged = cp.load_judgments([data / "judgments-heldout2.json"])
    heldout2 = {name for name, p in projects.items() if p.set == "heldout2"}
    assert len(heldout2) == 5 and set(judged) == heldout2
    for name in heldout2:
        assert len(projects[name].commit) == 40 and int(projects[name].commit, 16) >= 0
        for j in judged[name]:
            assert j.reason.strip(), (name, j.path, j.line)
            assert j.verdict != "false" or j.kind, (name, j.path, j.line)


def _three_sets(tmp_path: Path) -> Path:
    projects = tmp_path / "projects.json"
    projects.write_text(
        '[{"name": "d", "repo": "o/d", "commit": "' + "0" * 40 + '", "set": "dev"},'
        ' {"name": "h2", "repo": "o/h2", "commit": "' + "1" * 40 + '", "set": "heldout2"},'
        ' {"name": "h3", "repo": "o/h3", "commit": "' + "2" * 40 + '", "set": "heldout3"}]'
    )
    return projects


@pytest.mark.parametrize(
    ("chosen", "expected"), [("heldout3", ["h3"]), ("all", ["d", "h2", "h3"]), ("dev", ["d"])]
)
def test_set_names_come_from_the_projects_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chosen: str, expected: list[str]
) -> None:
    measured: list[str] = []

    def fake_measure(project: Any, *_args: Any) -> Any:
        measured.append(project.name)
        return cp.Outcome(project, [finding()], {0}, {}, 0.1)

    monkeypatch.setattr(cp, "measure", fake_measure)
    args = ["--projects", str(_three_sets(tmp_path)), "--set", chosen, "--judgments", "none"]
    assert cp.main(args) == 0
    assert measured == expected


def test_a_set_not_in_the_projects_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        cp.main(["--projects", str(_three_sets(tmp_path)), "--set", "heldout4"])
    assert stop.value.code == 2
    assert "heldout4" in capsys.readouterr().err


def test_every_heldout3_judgment_has_a_verdict_a_reason_and_a_pinned_project() -> None:
    data = BENCH.parent / "precision"
    projects = {p.name: p for p in cp.load_projects(data / "projects.json")}
    judged = cp.load_judgments([data / "judgments-heldout3.json"])
    heldout3 = {name for name, p in projects.items() if p.set == "heldout3"}
    assert len(heldout3) == 5 and set(judged) == heldout3
    others = {p.repo for p in projects.values() if p.set != "heldout3"}
    assert not others & {projects[name].repo for name in heldout3}
    for name in heldout3:
        assert len(projects[name].commit) == 40 and int(projects[name].commit, 16) >= 0
        for j in judged[name]:
            assert j.reason.strip(), (name, j.path, j.line)
            assert j.verdict != "false" or j.kind, (name, j.path, j.line)


def test_every_heldout4_judgment_has_a_verdict_a_reason_and_a_pinned_project() -> None:
    data = BENCH.parent / "precision"
    projects = {p.name: p for p in cp.load_projects(data / "projects.json")}
    judged = cp.load_judgments([data / "judgments-heldout4.json"])
    heldout4 = {name for name, p in projects.items() if p.set == "heldout4"}
    assert len(heldout4) == 5 and set(judged) == heldout4
    others = {p.repo for p in projects.values() if p.set != "heldout4"}
    assert not others & {projects[name].repo for name in heldout4}
    for name in heldout4:
        assert len(projects[name].commit) == 40 and int(projects[name].commit, 16) >= 0
        for j in judged[name]:
            assert j.reason.strip(), (name, j.path, j.line)
            assert j.verdict != "false" or j.kind, (name, j.path, j.line)


def test_every_heldout5_judgment_has_a_verdict_a_reason_and_a_pinned_project() -> None:
    data = BENCH.parent / "precision"
    projects = {p.name: p for p in cp.load_projects(data / "projects.json")}
    judged = cp.load_judgments([data / "judgments-heldout5.json"])
    heldout5 = {name for name, p in projects.items() if p.set == "heldout5"}
    assert len(heldout5) == 5 and set(judged) == heldout5
    others = {p.repo for p in projects.values() if p.set != "heldout5"}
    assert not others & {projects[name].repo for name in heldout5}
    for name in heldout5:
        assert len(projects[name].commit) == 40 and int(projects[name].commit, 16) >= 0
        for j in judged[name]:
            assert j.reason.strip(), (name, j.path, j.line)
            assert j.verdict != "false" or j.kind, (name, j.path, j.line)
