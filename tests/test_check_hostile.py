"""``killproof check`` on hostile and broken trees: it runs nothing the tree names, writes
nothing outside it, never hangs, never crashes, and loses only what is broken.

Every case runs the CLI in a child under a time and memory budget (tests/budget.py) and
asserts how it ended: the exit status, and the one skipped entry that names the file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from budget import Outcome, run_cli, tree

KUBECTL = shutil.which("kubectl")
KUSTOMIZE = shutil.which("kustomize")

HANDLER = 'package api\n\nimport "net/http"\n\n'


def check(root: Path, *, seconds: float = 20.0, mib: int = 768, code: int = 0) -> dict[str, Any]:
    """``killproof check --format json ROOT`` under a budget; its exit status must be
    ``code`` (1: findings at or above error), and its report is returned."""
    out: Outcome = run_cli(["check", "--format", "json", root], seconds=seconds, mib=mib)
    assert "Traceback" not in out.stderr
    assert out.code == code, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def findings(report: dict[str, Any]) -> set[tuple[str, str, int]]:
    """(rule, path, line) of every finding."""
    return {(f["rule"], f["path"], f["line"]) for f in report["findings"]}


def skipped(report: dict[str, Any], what: str) -> list[str]:
    """The reasons of the skipped entries whose ``what`` starts with ``what``."""
    return [s["reason"] for s in report["skipped"] if s["what"].startswith(what)]


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of ``text`` containing ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


# --- 1. option injection into kustomize / kubectl ---------------------------------------

# A kustomization the native resolver hands to the binary ('replacements' is unsupported).
UNSUPPORTED = "resources: []\nreplacements: []\n"
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n"


@pytest.mark.skipif(KUBECTL is None and KUSTOMIZE is None, reason="needs kubectl or kustomize")
def test_a_directory_named_like_an_option_writes_nothing_outside_the_tree(tmp_path: Path) -> None:
    """`kubectl kustomize --output=..` would build the root and write it one level up."""
    root = tree(
        tmp_path / "root",
        {
            "kustomization.yaml": "resources:\n- cm.yaml\n",
            "cm.yaml": CONFIG_MAP,
            "--output=../kustomization.yaml": UNSUPPORTED,
        },
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    report = check(root, seconds=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["root"]
    # The directory was built as a directory: its (empty) output, no complaint about flags.
    assert not skipped(report, "--output=../kustomization.yaml"), report["skipped"]


def test_every_path_reaches_kustomize_as_a_path(tmp_path: Path, monkeypatch: Any) -> None:
    """A stand-in `kustomize` on PATH records the argv it gets (the injection is about argv)."""
    bin_dir = tmp_path / "bin"
    log = tmp_path / "argv.json"
    fake = bin_dir / "kustomize"
    tree(bin_dir, {"kustomize": "#!/usr/bin/env python3\n"})
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    root = tree(tmp_path / "root", {"-o=x/kustomization.yaml": UNSUPPORTED})
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    check(root)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls, "kustomize was not called"
    for argv in calls:
        assert argv[0] == "build"
        paths = argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]
        assert paths == ["./-o=x"], argv
        assert not any(a.startswith("-") for a in argv[1 : argv.index("--")] if "--" in argv)


# --- 2. git config of the checked tree ---------------------------------------------------


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_trees_git_config_runs_nothing(tmp_path: Path) -> None:
    """core.fsmonitor (and hooks) in .git/config are commands: check must not run them."""
    marker = tmp_path / "ran"
    root = tree(tmp_path / "root", {"main.go": "package main\n\nfunc main() {}\n"})
    hook = tree(tmp_path, {"hook.sh": f"#!/bin/sh\ntouch {marker}\necho x\n"}) / "hook.sh"
    hook.chmod(0o755)
    _git(root, "init", "-q", ".")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "x")
    for key in ("core.fsmonitor", "core.sshCommand", "core.pager", "diff.external"):
        _git(root, "config", key, str(hook))
    _git(root, "config", "core.hooksPath", str(tmp_path))
    (root / "ignored.go").write_text("package main\n")
    (root / ".gitignore").write_text("ignored.go\n")
    report = check(root)
    assert not marker.exists()
    # git's ignore rules still apply (the file list did come from git).
    assert report["metadata"]["go_files_checked"] == 1


# --- 3. rules stay linear; large files and slow rules are skipped, named ------------------


def many_maps(n: int) -> tuple[str, list[int]]:
    """A handler writing ``n`` package-level maps, and the lines of the writes."""
    lines = HANDLER.splitlines()
    lines += [f"var cache{i} = map[string]int{{}}" for i in range(n)]
    lines.append("func track(w http.ResponseWriter, r *http.Request) {")
    first = len(lines) + 1
    lines += [f"\tcache{i}[r.URL.Path] = len(r.URL.Path)" for i in range(n)]
    lines.append("}")
    return "\n".join(lines) + "\n", list(range(first, first + n))


def test_kp109_is_linear_in_the_package(tmp_path: Path) -> None:
    """2,000 maps written per request (140 KB): each one a finding, within the budget (the
    old per-map walk of the package took over a minute here)."""
    source, writes = many_maps(2000)
    root = tree(tmp_path, {"api.go": source})
    report = check(root, seconds=30, code=1)
    assert findings(report) == {("KP109", "api.go", line) for line in writes}


def test_a_go_file_over_the_size_limit_is_skipped_and_the_rest_checked(tmp_path: Path) -> None:
    bad = (
        HANDLER + "var seen = map[string]int{}\n\nfunc track(w http.ResponseWriter, "
        "r *http.Request) {\n\tseen[r.URL.Path] = 1\n}\n"
    )
    huge = "package api\n\n" + "// padding\n" * 300_000 + "var big = 1\n"
    root = tree(tmp_path, {"api.go": bad, "big.go": huge})
    report = check(root, seconds=30, code=1)
    assert findings(report) == {("KP109", "api.go", line_of(bad, "seen[r.URL.Path]"))}
    assert skipped(report, "big.go") == ["larger than 2 MiB: not checked"]


def test_a_rule_over_its_budget_is_skipped_by_name() -> None:
    """A rule that never returns is stopped at its budget; the budget stays spent, so the
    rule is not called again in the same run."""
    from killproof.model import Severity
    from killproof.rules.base import Rule, RuleDocs
    from killproof.rules.engine import RuleBudget, RuleOverrun, run_rule

    calls: list[int] = []

    def forever(facts: int) -> list[Any]:
        calls.append(facts)
        while True:
            pass

    rule: Rule[int] = Rule("KP999", "spins", Severity.ERROR, "", RuleDocs("", "", "", ""), forever)
    budget = RuleBudget(seconds=0.2)
    for facts in (1, 2):
        with pytest.raises(
            RuleOverrun, match=re.escape("rule KP999 ran out of its 0.2 s time budget")
        ):
            run_rule(rule, facts, budget)
    assert calls == [1]
    assert budget.exhausted("KP999")


# --- 5. never lose the rest ---------------------------------------------------------------

UNIT = "[Unit]\nDescription=api\n\n[Service]\nExecStart=/usr/bin/api\n"


def test_a_bad_drop_in_is_skipped_at_its_own_line_and_the_unit_still_checked(
    tmp_path: Path,
) -> None:
    root = tree(
        tmp_path,
        {
            "api.service": UNIT,
            "api.service.d/10-env.conf": "[Service]\nEnvironment=A=1\n",
            "api.service.d/20-bad.conf": "[Service]\nTimeoutStopSec=5\nthis is not a directive\n",
        },
    )
    report = check(root)
    assert findings(report) == {("KP304", "api.service", line_of(UNIT, "[Service]"))}
    assert skipped(report, "api.service.d/20-bad.conf:3") == [
        "not a 'Key=Value' line: 'this is not a directive' (drop-in not applied)"
    ]
    assert not skipped(report, "api.service:"), report["skipped"]


GOOD_POD = """\
apiVersion: v1
kind: Pod
metadata: {name: good}
spec:
  containers:
    - name: api
      image: api:1
      resources:
        requests: {memory: 128Mi, cpu: 100m}
        limits: {memory: 2Gi}
"""


def test_a_rule_failing_on_one_manifest_still_judges_the_others(tmp_path: Path) -> None:
    """`memory: [1, 2]` breaks KP203 on that object only: the good Pod keeps its KP203."""
    poisoned = GOOD_POD.replace("good", "bad").replace("{memory: 2Gi}", "{memory: [1, 2]}")
    root = tree(tmp_path, {"a-bad.yaml": poisoned, "b-good.yaml": GOOD_POD})
    report = check(root)
    kp203 = {f for f in findings(report) if f[0] == "KP203"}
    assert kp203 == {("KP203", "b-good.yaml", line_of(GOOD_POD, "limits:"))}
    reasons = skipped(report, "a-bad.yaml:1 (KP203)")
    assert len(reasons) == 1 and reasons[0].startswith("rule KP203 failed on this object: ")
    assert not skipped(report, "KP203"), "the rule as a whole was not dropped"
