"""``check``'s text output: what was not read comes first, grouped, with the command that
reads it; findings are ordered by severity, then file."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.cli import main
from rundir import from_root

CHART_TEMPLATE = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"


def test_text_output_order_and_skipped_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        # a warning (KP301) in a file that sorts before the error's file
        "a/Dockerfile": "FROM debian:12\nCOPY api /api\nCMD /api\n",
        # an error (KP210): dash keeps the shell as PID 1
        "z/pod.yaml": (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
            "    - {name: c, image: 'debian:12', command: [sh, -c, 'migrate && /app/api']}\n"
        ),
        "deploy/chart/templates/deployment.yaml": CHART_TEMPLATE,
        "deploy/chart/templates/service.yaml": CHART_TEMPLATE.replace("Deployment", "Service"),
        "bad.yaml": "apiVersion: v1\nkind: Pod\nspec:\n  - a\n  b: c\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    with from_root(["check", tmp_path]) as argv:
        main(argv)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("by rule: KP001 1, KP201 1, KP202 1, KP204 1, KP210 1, KP301 1")
    # Skipped by design (Helm templates) stays apart from the file that could not be read.
    assert lines[2:4] == [
        "not read (2):",
        "  2 files: Helm template of chart deploy/chart: read the chart with "
        "`helm template deploy/chart | killproof check -` (deploy/chart/templates/"
        "deployment.yaml, deploy/chart/templates/service.yaml)",
    ]
    heads = [line for line in lines[1:] if " KP" in line and not line.startswith(" ")]
    # the one error first, then the warnings by file
    assert [(h.split(":")[0], h.split(" KP")[1][:3]) for h in heads] == [
        ("bad.yaml", "001"),
        ("z/pod.yaml", "210"),
        ("a/Dockerfile", "301"),
        ("z/pod.yaml", "201"),
        ("z/pod.yaml", "202"),
        ("z/pod.yaml", "204"),
    ]
    assert not any(line.startswith("skipped: ") for line in lines)
