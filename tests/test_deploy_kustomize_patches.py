"""A file a kustomization uses as a patch is a partial object, never judged on its own:
listed under ``patches:`` by bare name (with the base through the older ``bases:``), under
``patchesStrategicMerge``, or in a kustomization that cannot be built. Manifests that are
not patches, and the base's own findings, are still judged where they are written."""

from __future__ import annotations

from pathlib import Path

from killproof.check.deploy import check_deploy
from killproof.config import ProjectConfig

BASE_DS = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  template:
    spec:
      containers:
        - name: agent
          image: acme/agent:1
          resources:
            requests: {cpu: 100m, memory: 200Mi}
            limits: {memory: 400Mi}
"""
PATCH = """\
# adds an argument to the agent
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  template:
    spec:
      containers:
        - name: agent
          args: [--perf]
"""
BASE_KUST = "resources: [daemonset.yaml]\n"
NO_LIMITS = BASE_DS.split("          resources:", maxsplit=1)[0]


def findings(root: Path, files: dict[str, str]) -> set[tuple[str, str, int]]:
    """(rule, path, line) of every finding ``check`` makes on ``files``."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    result = check_deploy(root, sorted(root.rglob("*.yaml")), (), None, ProjectConfig())
    return {(f.rule, f.location.path, f.location.line) for f in result.findings}


def paths(found: set[tuple[str, str, int]]) -> set[str]:
    return {path for _, path, _ in found}


def test_bare_patch_with_bases_is_applied_not_judged(tmp_path: Path) -> None:
    """``bases:`` + ``patches: [file]``: the built DaemonSet has the base's limits."""
    found = findings(tmp_path, {
        "base/kustomization.yaml": BASE_KUST, "base/daemonset.yaml": BASE_DS,
        "perf/kustomization.yaml": "bases:\n- ../base\npatches:\n- perf.yaml\n",
        "perf/perf.yaml": PATCH,
    })  # fmt: skip
    assert "perf/perf.yaml" not in paths(found)
    assert not {r for r, _, _ in found} & {"KP201", "KP202", "KP204", "KP217"}


def test_strategic_merge_patch_of_a_broken_overlay_is_not_judged(tmp_path: Path) -> None:
    """The overlay cannot be built (missing base): its patch is still only a patch."""
    found = findings(tmp_path, {
        "over/kustomization.yaml": "resources: [../missing]\npatchesStrategicMerge: [p.yaml]\n",
        "over/p.yaml": PATCH,
    })  # fmt: skip
    assert "over/p.yaml" not in paths(found)


def test_path_patch_of_a_broken_overlay_is_not_judged(tmp_path: Path) -> None:
    found = findings(tmp_path, {
        "over/kustomization.yaml": "bases: [../gone]\npatches:\n  - path: p.yaml\n",
        "over/p.yaml": PATCH,
    })  # fmt: skip
    assert "over/p.yaml" not in paths(found)


def test_base_finding_is_reported_at_the_base_line(tmp_path: Path) -> None:
    """A base with no limits, patched by a bare-name patch: the built object's missing
    limit is reported once, at the base's container line (9)."""
    found = findings(tmp_path, {
        "base/kustomization.yaml": BASE_KUST, "base/daemonset.yaml": NO_LIMITS,
        "perf/kustomization.yaml": "bases:\n- ../base\npatches:\n- perf.yaml\n",
        "perf/perf.yaml": PATCH,
    })  # fmt: skip
    assert [f for f in found if f[0] == "KP201"] == [("KP201", "base/daemonset.yaml", 9)]


def test_a_manifest_beside_an_overlay_that_is_not_a_patch_is_judged(tmp_path: Path) -> None:
    found = findings(tmp_path, {
        "over/kustomization.yaml": "resources: [../missing]\npatches: [p.yaml]\n",
        "over/p.yaml": PATCH,
        "over/extra.yaml": NO_LIMITS,
    })  # fmt: skip
    assert ("KP201", "over/extra.yaml", 9) in found


def test_the_patch_sets_the_value_the_rule_reads(tmp_path: Path) -> None:
    """A bare-name patch that removes the resources: the built DaemonSet has no limit."""
    drop = PATCH.replace("          args: [--perf]\n", "          resources: null\n")
    found = findings(tmp_path, {
        "base/kustomization.yaml": BASE_KUST, "base/daemonset.yaml": BASE_DS,
        "perf/kustomization.yaml": "bases:\n- ../base\npatches:\n- perf.yaml\n",
        "perf/perf.yaml": drop,
    })  # fmt: skip
    assert {(r, p) for r, p, _ in found if r == "KP201"} == {("KP201", "base/daemonset.yaml")}


def test_a_missing_patch_file_is_skipped_at_the_line_that_lists_it(tmp_path: Path) -> None:
    """``kustomize build`` fails on a listed patch that does not exist: so does check, at
    the kustomization's line (4), and the overlay's other patch is not judged alone."""
    (tmp_path / "over").mkdir()
    (tmp_path / "over" / "kustomization.yaml").write_text(
        "bases:\n- ../base\npatches:\n- gone.yaml\n- p.yaml\n"
    )
    (tmp_path / "over" / "p.yaml").write_text(PATCH)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "kustomization.yaml").write_text(BASE_KUST)
    (tmp_path / "base" / "daemonset.yaml").write_text(BASE_DS)
    files = sorted(tmp_path.rglob("*.yaml"))
    result = check_deploy(tmp_path, files, (), None, ProjectConfig())
    assert {s.what for s in result.skipped} == {"over/kustomization.yaml:4"}
    assert "over/p.yaml" not in {f.location.path for f in result.findings}
