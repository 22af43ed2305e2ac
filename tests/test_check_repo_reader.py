"""The one repository reader: ``check`` and ``drill PATH`` see the same files and limits.

The fixture is the case of issue 12: a base Deployment at 64Mi and a kustomize overlay
that patches it to 512Mi. ``check`` must judge 512Mi and ``drill PATH`` must run under it.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from killproof import gotool
from killproof.check.repo import RepoOptions, read_repo
from killproof.check.run import CheckOptions, run_check
from killproof.cli import main
from killproof.drill.settings import DrillOptions
from killproof.drill.setup import prepare
from killproof.errors import InputError

MAIN_GO = """\
package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/orders", func(w http.ResponseWriter, r *http.Request) {})
	_ = http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
"""

BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: shop
          image: registry.example.com/shop:1.0
          env:
            - name: GOMEMLIMIT
              value: "500MiB"
          resources:
            limits:
              memory: 64Mi
"""

PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  template:
    spec:
      containers:
        - name: shop
          resources:
            limits:
              memory: 512Mi
"""
PATCH_LINE = 12  # `memory: 512Mi` in the overlay's patch


def has_go() -> bool:
    """True when killproof finds a Go toolchain (beside this Python, or on PATH)."""
    try:
        gotool.go_binary()
    except InputError:
        return False
    return True


def overlay_repo(root: Path) -> Path:
    """go.mod + main.go, deploy/base (64Mi) and deploy/overlays/prod (patched to 512Mi)."""
    (root / "deploy" / "base").mkdir(parents=True)
    (root / "deploy" / "overlays" / "prod").mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/shop\n\ngo 1.22\n")
    (root / "main.go").write_text(MAIN_GO)
    (root / "deploy" / "base" / "deployment.yaml").write_text(BASE)
    (root / "deploy" / "base" / "kustomization.yaml").write_text(
        "resources:\n  - deployment.yaml\n"
    )
    (root / "deploy" / "overlays" / "prod" / "memory.yaml").write_text(PATCH)
    (root / "deploy" / "overlays" / "prod" / "kustomization.yaml").write_text(
        "resources:\n  - ../../base\npatches:\n  - path: memory.yaml\n"
    )
    return root


def test_the_reader_links_the_overlay_limit_to_the_go_program(tmp_path: Path) -> None:
    repo = read_repo(overlay_repo(tmp_path), RepoOptions(jobs=1))
    assert [p.dir for p in repo.go.programs] == ["."]
    limits = [
        (x.launch.memory_limit.value, x.launch.memory_limit.at.path, x.launch.memory_limit.at.line)
        for x in repo.deploy.facts.launches
        if x.program is not None and x.launch.memory_limit is not None
    ]
    assert limits == [(512 << 20, "deploy/overlays/prod/memory.yaml", PATCH_LINE)]


def test_check_judges_the_overlay_limit(tmp_path: Path) -> None:
    report = run_check([str(overlay_repo(tmp_path))], CheckOptions(jobs=1))
    # GOMEMLIMIT=500MiB is 98 % of 512Mi (KP212's threshold is 95 %); against the base's
    # 64Mi it would be 781 % and the evidence would name the base's line.
    kp212 = [f for f in report.findings if f.rule == "KP212"]
    limits = [
        (e.text, e.path, e.line)
        for f in kp212
        for e in f.evidence
        if e.text.startswith("memory limit")
    ]
    assert limits == [("memory limit 512Mi", "deploy/overlays/prod/memory.yaml", PATCH_LINE)]


def test_drill_path_runs_under_the_limit_check_judged(tmp_path: Path) -> None:
    plan = prepare(DrillOptions(target=(str(overlay_repo(tmp_path)),)))
    assert plan.config.memory_bytes == 512 << 20
    settings = [n for n in plan.notes if n.startswith("settings from ")]
    assert settings and "deploy/overlays/prod/memory.yaml" in settings[0], plan.notes


def test_drill_path_leaves_test_trees_out_as_check_does(tmp_path: Path) -> None:
    root = overlay_repo(tmp_path)
    # A second main under test/ is not production: check leaves it out, so drill does too
    # (before, drill read it and refused the repo as having several mains).
    (root / "test" / "loadgen").mkdir(parents=True)
    (root / "test" / "loadgen" / "main.go").write_text("package main\n\nfunc main() {}\n")
    plan = prepare(DrillOptions(target=(str(root),)))
    assert plan.main_dir == root.resolve()
    assert plan.config.memory_bytes == 512 << 20


@pytest.mark.parametrize("missing", ["nowhere"])
def test_reader_refuses_a_missing_path(tmp_path: Path, missing: str) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_repo(tmp_path / missing)


@pytest.mark.slow
@pytest.mark.skipif(not has_go(), reason="needs a Go toolchain to build the main")
def test_a_real_drill_of_the_repo_runs_under_the_overlay_limit(tmp_path: Path) -> None:
    root = overlay_repo(tmp_path / "shop")
    out = tmp_path / "report.json"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    main(["drill", str(root), "--rate", "20", "--duration", "1s", "--no-shutdown-test",
          "--port", str(port), "--work-dir", str(tmp_path / "w"),
          "-f", "json", "-o", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    assert report["limits"]["memory_bytes"] == 512 << 20
    assert "GOMEMLIMIT=500MiB" in report["metadata"]["env"].split()
