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
    # Run from the root so paths print as the user there sees them (``api.go``).
    cwd, arg = (root, ".") if root.is_dir() else (root.parent, root.name)
    out: Outcome = run_cli(["check", "--format", "json", arg], seconds=seconds, mib=mib, cwd=cwd)
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


def not_read(report: dict[str, Any], path: str) -> list[tuple[int, str, str]]:
    """(line, severity, reason) of the KP001 (file not read) findings at ``path``."""
    prefix = "could not read this file, so no rule checked it: "
    return [
        (f["line"], f["severity"], f["message"].removeprefix(prefix))
        for f in report["findings"]
        if f["rule"] == "KP001" and f["path"] == path
    ]


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
    report = check(root, code=1)
    assert findings(report) == {
        ("KP304", "api.service", line_of(UNIT, "[Service]")),
        ("KP001", "api.service.d/20-bad.conf", 3),
    }
    assert not_read(report, "api.service.d/20-bad.conf") == [
        (3, "error", "not a 'Key=Value' line: 'this is not a directive' (drop-in not applied)")
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


# --- 4. YAML alias bombs ------------------------------------------------------------------


def alias_bomb(levels: int = 10) -> str:
    """A Pod whose command and args are a billion-laughs alias bomb (under 1 KB)."""
    lines = [
        "apiVersion: v1",
        "kind: Pod",
        "metadata: {name: bomb}",
        "x0: &a0 [" + "lol, " * 8 + "lol]",
    ]
    for i in range(1, levels):
        lines.append(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    last = levels - 1
    lines += [
        "spec:",
        "  containers:",
        "    - name: api",
        "      image: api:1",
        f"      command: [*a{last}]",
        f"      args: [*a{last}, *a{last - 1}]",
    ]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_in_command_is_refused_with_its_line(tmp_path: Path) -> None:
    bomb = alias_bomb()
    assert len(bomb) < 1024
    root = tree(tmp_path, {"bomb.yaml": bomb, "pod.yaml": GOOD_POD})
    report = check(root, seconds=10, mib=512)
    # The bomb's lines: the alias that pushes the expansion past the bound. A bound of
    # ours (": not read") declines the file: skipped work, not a KP001 finding.
    [(what, reason)] = [(s["what"], s["reason"]) for s in report["skipped"]]
    assert what.startswith("bomb.yaml:") and 5 <= int(what.split(":")[1]) <= 10, what
    assert "YAML bomb" in reason
    assert ("KP203", "pod.yaml", line_of(GOOD_POD, "limits:")) in findings(report)


def test_an_alias_bomb_in_a_kustomize_base_is_refused(tmp_path: Path) -> None:
    """Overlays copy their base: the bound holds there too."""
    root = tree(
        tmp_path,
        {
            "base/kustomization.yaml": "resources:\n- pod.yaml\n",
            "base/pod.yaml": alias_bomb(),
            "overlay/kustomization.yaml": "resources:\n- ../base\nnamePrefix: x-\n",
        },
    )
    report = check(root, seconds=10, mib=512)
    whats = {s["what"].split(":")[0] for s in report["skipped"]}
    assert whats == {"base/pod.yaml"}, report["skipped"]


def test_an_alias_to_its_own_container_is_refused(tmp_path: Path) -> None:
    """`&a [*a]` is a cycle: anything walking it would never end."""
    cyclic = GOOD_POD.replace("metadata: {name: good}", "metadata: &m {name: good, self: *m}")
    root = tree(tmp_path, {"pod.yaml": cyclic})
    report = check(root, seconds=10, mib=512, code=1)
    assert not_read(report, "pod.yaml") == [
        (3, "error", "alias *m refers to a node that contains it")
    ]


def test_ordinary_anchors_still_work(tmp_path: Path) -> None:
    """Anchors shared by two containers (a common way to keep env lists in step)."""
    pod = GOOD_POD.replace("    - name: api\n", "    - &api\n      name: api\n") + "    - *api\n"
    root = tree(tmp_path, {"pod.yaml": pod})
    report = check(root, seconds=20)
    assert not report["skipped"]
    assert ("KP203", "pod.yaml", line_of(pod, "limits:")) in findings(report)


# --- 6. hostile files: each ends within its budget, names the file, loses nothing else ---

KP109_BAD = HANDLER + (
    "var seen = map[string]int{}\n\n"
    "func track(w http.ResponseWriter, r *http.Request) {\n\tseen[r.URL.Path] = 1\n}\n"
)
GARBAGE = bytes(range(256)) * 64 + b"\0apiVersion: v1\nkind: Pod\n" + os.urandom(4096)


def kp109(rel: str = "api.go") -> tuple[str, str, int]:
    """The KP109 finding of KP109_BAD written at ``rel``."""
    return ("KP109", rel, line_of(KP109_BAD, "seen[r.URL.Path]"))


def test_binary_garbage_named_go_and_yaml(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {"api.go": KP109_BAD, "junk.go": GARBAGE, "junk.yaml": GARBAGE, "pod.yaml": GOOD_POD},
    )
    report = check(root, code=1)
    assert kp109() in findings(report)
    assert ("KP203", "pod.yaml", line_of(GOOD_POD, "limits:")) in findings(report)
    # gofmt (the Go toolchain is installed here) confirms junk.go is not Go: an error.
    [(_, go_severity, go_reason)] = not_read(report, "junk.go")
    assert go_severity == "error" and go_reason.startswith("unreadable Go: syntax error at")
    [(_, _, yaml_reason)] = not_read(report, "junk.yaml")
    assert yaml_reason.startswith("unreadable: not UTF-8 text (")


def test_bad_utf8(tmp_path: Path) -> None:
    """Go source is bytes (a bad byte in a comment changes nothing); YAML must be UTF-8."""
    go = KP109_BAD.encode().replace(b"import", b"// caf\xe9 \xff\nimport", 1)
    root = tree(
        tmp_path,
        {
            "api.go": go,
            "pod.yaml": GOOD_POD.encode().replace(b"name: api", b"name: \xc3\x28api"),
        },
    )
    bad_at = (root / "pod.yaml").read_bytes().index(b"\xc3\x28")
    report = check(root, code=1)
    assert findings(report) == {("KP109", "api.go", kp109()[2] + 1), ("KP001", "pod.yaml", 0)}
    assert not_read(report, "pod.yaml") == [
        (0, "error", f"unreadable: not UTF-8 text (invalid continuation byte at byte {bad_at})")
    ]


def test_symlink_loops_and_links_out_of_the_tree(tmp_path: Path) -> None:
    """Loops end the walk; a link or a kustomize path out of the tree is not read (its
    content would end up in the report)."""
    root = tree(
        tmp_path / "root",
        {
            "api.go": KP109_BAD,
            "k1/kustomization.yaml": "resources:\n- ../loop-a.yaml\n",
            "k2/kustomization.yaml": "resources:\n- ../../secret.yaml\n",
        },
    )
    tree(tmp_path, {"secret.yaml": GOOD_POD.replace("good", "secret"), "elsewhere.go": KP109_BAD})
    (root / "loop-a.yaml").symlink_to("loop-b.yaml")
    (root / "loop-b.yaml").symlink_to("loop-a.yaml")
    (root / "dir-loop").symlink_to(".")
    (root / "out.go").symlink_to(tmp_path / "elsewhere.go")
    (root / "out.yaml").symlink_to(tmp_path / "secret.yaml")
    report = check(root, code=1)
    # The missing resource is the kustomization's fault (KP001); links out are declined.
    assert findings(report) == {kp109(), ("KP001", "k1/kustomization.yaml", 2)}
    assert "secret" not in json.dumps(report["findings"])
    outside = "outside the checked tree (through a link or '..'): not read"
    assert skipped(report, "out.go") == [
        "cannot read: outside the checked tree (through a link): not read"
    ]
    assert skipped(report, "out.yaml") == [f"unreadable: {outside}"]
    assert skipped(report, "../secret.yaml") == [f"kustomize: cannot read: {outside}"]
    assert not_read(report, "k1/kustomization.yaml") == [
        (2, "error", "kustomize: resource '../loop-a.yaml' not found")
    ]


def test_dev_zero_and_a_fifo_named_like_manifests(tmp_path: Path) -> None:
    root = tree(tmp_path, {"pod.yaml": GOOD_POD})
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.yaml")
    os.mkfifo(tmp_path / ".gitignore")
    tree(
        tmp_path,
        {
            "k1/kustomization.yaml": "resources:\n- ../fifo.yaml\n",
            "k2/kustomization.yaml": "resources:\n- ../zero.yaml\n",
        },
    )
    report = check(root, seconds=20, mib=512)
    assert ("KP203", "pod.yaml", line_of(GOOD_POD, "limits:")) in findings(report)
    assert skipped(report, "fifo.yaml") == ["kustomize: cannot read: not a regular file: not read"]
    assert skipped(report, "zero.yaml") == [
        "kustomize: cannot read: outside the checked tree (through a link or '..'): not read"
    ]


def test_huge_yaml_documents(tmp_path: Path) -> None:
    """Over the size limit: skipped by name. Under it, one 6 MiB document: read in budget."""
    blob = "x" * (6 << 20)
    big_cm = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata:\n  blob: {blob}\n"
    root = tree(
        tmp_path,
        {
            "huge.yaml": "# " + "y" * (9 << 20) + "\n" + GOOD_POD,
            "big.yaml": big_cm + "---\n" + GOOD_POD,
        },
    )
    report = check(root, seconds=30, mib=1024)
    second = len(big_cm.splitlines()) + 1  # the line of '---'
    kp203 = {f for f in findings(report) if f[0] == "KP203"}
    assert kp203 == {("KP203", "big.yaml", second + line_of(GOOD_POD, "limits:"))}
    assert skipped(report, "huge.yaml") == ["unreadable: larger than 8 MiB: not read"]


def test_deeply_nested_yaml(tmp_path: Path) -> None:
    deep = GOOD_POD + "  extra: " + "[" * 100_000 + "]" * 100_000 + "\n"
    root = tree(tmp_path, {"deep.yaml": deep, "pod.yaml": GOOD_POD})
    report = check(root, seconds=20, mib=512)
    assert skipped(report, "deep.yaml:11") == ["nested deeper than 200 levels: not read"]
    assert ("KP203", "pod.yaml", line_of(GOOD_POD, "limits:")) in findings(report)


def test_a_go_file_with_10000_nested_blocks(tmp_path: Path) -> None:
    n = 10_000
    deep = KP109_BAD.replace(
        "\tseen[r.URL.Path] = 1\n", "{" * n + "\n\tseen[r.URL.Path] = 1\n" + "}" * n
    )
    root = tree(tmp_path, {"deep.go": deep, "api.go": KP109_BAD})
    report = check(root, seconds=20, mib=512, code=1)
    assert findings(report) == {kp109()}
    assert skipped(report, "deep.go") == ["brackets nested deeper than 250: not checked"]


def test_oversized_stdin_is_one_line_exit_2() -> None:
    out = run_cli(["check", "-"], seconds=20, mib=512, stdin=b"a: b\n" * (2 << 20))
    assert out.code == 2
    assert out.stderr.strip() == "killproof: <stdin>: larger than 8 MiB: not read"


def many_workloads(n: int) -> tuple[str, set[tuple[str, str, int]]]:
    """``n`` one-replica Deployments, each with a PDB (minAvailable: 1), every second one
    with an HPA (minReplicas: 2); the KP214/KP215 findings expected on the others."""
    docs: list[str] = []
    expected: set[tuple[str, str, int]] = set()
    line = 1
    for i in range(n):
        deploy = (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\nspec:\n"
            f"  replicas: 1\n  template:\n    metadata: {{labels: {{app: a{i}}}}}\n"
            f"    spec:\n      containers:\n        - name: c\n          image: c:1\n"
            f"          ports: [{{containerPort: 80}}]\n"
        )
        pdb = (
            f"apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: p{i}}}\n"
            f"spec:\n  minAvailable: 1\n  selector: {{matchLabels: {{app: a{i}}}}}\n"
        )
        hpa = (
            f"apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: h{i}}}\n"
            f"spec:\n  minReplicas: 2\n  maxReplicas: 3\n"
            f"  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: d{i}}}\n"
        )
        if i % 2:
            expected.add(("KP214", "many.yaml", line + line_of(deploy, "replicas:") - 1))
        pdb_line = line + deploy.count("\n") + 1
        if i % 2:
            expected.add(("KP215", "many.yaml", pdb_line + line_of(pdb, "minAvailable") - 1))
        parts = [deploy, pdb] + ([hpa] if i % 2 == 0 else [])
        docs += parts
        line += sum(p.count("\n") + 1 for p in parts)
    return "---\n".join(docs), expected


def test_cross_object_lookups_are_indexed(tmp_path: Path) -> None:
    """4,000 Deployments, PDBs and HPAs: each workload's HPA, PDBs and containers are
    looked up, not scanned for (a scan per workload took minutes)."""
    text, expected = many_workloads(4000)
    root = tree(tmp_path, {"many.yaml": text})
    report = check(root, seconds=60, mib=1024)  # warnings only: exit 0
    assert {f for f in findings(report) if f[0] in ("KP214", "KP215")} == expected


def test_entrypoint_scripts_with_pathological_lines(tmp_path: Path) -> None:
    """A 1 MB line of `trap` words and one of blanks: the script readers stay linear (the
    `trap.*TERM` pattern and the blanks around `;` used to backtrack quadratically)."""
    root = tree(
        tmp_path,
        {
            "entrypoint.sh": "#!/bin/sh\n" + "trap " * 200_000 + "\nexec /app\n",
            "run.sh": "#!/bin/sh\n/app" + " " * 1_000_000 + "x\n",
            "pod.yaml": GOOD_POD,
        },
    )
    report = check(root, seconds=15, mib=512)
    assert ("KP203", "pod.yaml", line_of(GOOD_POD, "limits:")) in findings(report)
    assert not report["skipped"]


def test_a_dockerfile_of_20000_chained_stages(tmp_path: Path) -> None:
    """Each FROM names the stage before it: stage lookups are indexed (they were rescans)."""
    stages = "FROM scratch AS s0\n" + "".join(
        f"FROM s{i - 1} AS s{i}\nENV A{i}=1\n" for i in range(1, 20_000)
    )
    dockerfile = stages + "CMD /app --serve\n"
    root = tree(tmp_path, {"Dockerfile": dockerfile})
    report = check(root, seconds=15, mib=512)  # a warning: exit 0
    assert findings(report) == {("KP301", "Dockerfile", dockerfile.count("\n"))}
    assert not report["skipped"]
