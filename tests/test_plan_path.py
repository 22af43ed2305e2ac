"""``killproof plan PATH``: drill the repository with ``drill PATH``'s settings, then plan
the workload ``check`` links to its Go main (a real Go build and a real drill: slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from killproof import cli

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_plan_path_drills_then_plans(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = cli.main(["plan", str(ROOT / "examples" / "orders-fixed"), "--format", "json",
                     "--write-patch", str(tmp_path / "patch")])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["refused"]
    assert report["workload"]["kind"] == "Deployment"
    assert report["workload"]["path"].endswith("examples/orders-fixed/deploy/deployment.yaml")
    recs = {r["setting"]: r for r in report["recommendations"]}
    assert recs["resources.limits.memory"]["current"] == "128Mi"
    assert recs["resources.limits.memory"]["inputs"]["memory_source"].startswith(("cgroup", "rss"))
    # The drill sampled the process's CPU time: the request is sized, not "not measured".
    assert recs["resources.requests.cpu"]["recommended"] is not None
    assert recs["resources.requests.cpu"]["inputs"]["windows"] >= 10
    patch = (tmp_path / "patch" / "patch.yaml").read_text()
    assert f"memory: {recs['resources.limits.memory']['recommended']}" in patch
