"""``killproof plan``: from a drill's measurements to the settings that keep it alive.

``killproof plan REPORT.json …`` reads drill reports (``killproof drill --format json``);
``killproof plan PATH`` drills the repository first, as ``killproof drill PATH`` does.
Exit status: 0 planned, 1 memory not sized (the service leaks; 0 with ``--fail-on none``),
2 usage or input error.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from killproof.commands.common import FAIL_NEVER, emit, output_options
from killproof.errors import InputError
from killproof.plan.alerts import AlertsFormat, AlertTarget, document, to_yaml
from killproof.plan.deployed import Deployed, from_manifest, linked_container
from killproof.plan.evidence import DrillEvidence, combine, from_report
from killproof.plan.inplace import edit_in_place
from killproof.plan.model import Strategy
from killproof.plan.patch import write_patch as write_patch_dir
from killproof.plan.run import PlanSettings, build_report, read_reports


def drill_path(root: Path) -> DrillEvidence:
    """Drill ``root`` with the settings ``killproof drill PATH`` uses; its evidence."""
    from killproof.config import process_environment
    from killproof.drill.progress import ProgressDisplay
    from killproof.drill.run import run_drill
    from killproof.drill.settings import DrillOptions
    from killproof.drill.setup import prepare
    from killproof.drill.verdict import build_report as drill_report

    drill = prepare(DrillOptions(target=(str(root),)), process_environment())
    directory = Path(tempfile.mkdtemp(prefix="killproof-plan-drill-"))
    try:
        config, _ = drill.complete(directory)
        with ProgressDisplay(enabled=sys.stderr.isatty()) as display:
            result = run_drill(config, display.update)
        if result.interrupted:
            raise click.exceptions.Abort()
        data = drill_report(result).to_json()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return from_report(data, f"drill of {root}")


@click.command("plan")
@click.argument("inputs", nargs=-1, required=True, metavar="DRILL_REPORT.json... | PATH",
                type=click.Path(exists=True, path_type=Path))  # fmt: skip
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The Kubernetes manifest that deploys the service. [PATH: the workload "
              "check links to its Go main]")  # fmt: skip
@click.option("--target-rps", type=click.FloatRange(min=0, min_open=True),
              help="Requests/s to serve in total: replicas and an HPA.")  # fmt: skip
@click.option("--strategy", type=click.Choice([s.value for s in Strategy]), default="killproof",
              show_default=True, help="Sizing recipe: killproof, krr (simple) or vpa.")  # fmt: skip
@click.option("--cpu-limit", is_flag=True, help="Recommend a CPU limit too (off: none).")
@click.option("--alerts-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write Prometheus alert rules derived from the drill to this file.")  # fmt: skip
@click.option("--alerts-format", type=click.Choice([f.value for f in AlertsFormat]),
              default="rules", show_default=True,
              help="rules: plain rule groups; prometheusrule: a PrometheusRule object.")  # fmt: skip
@click.option("--write-patch", type=click.Path(file_okay=False, path_type=Path),
              help="Write a kustomize patch (strategic merge) + kustomization to this dir.")  # fmt: skip
@click.option("--in-place", is_flag=True,
              help="Edit the manifest itself (comments and layout kept).")  # fmt: skip
@output_options(default_fail_on="error")
def command(
    *,
    inputs: tuple[Path, ...],
    manifest: Path | None,
    target_rps: float | None,
    strategy: str,
    cpu_limit: bool,
    alerts_out: Path | None,
    alerts_format: str,
    write_patch: Path | None,
    in_place: bool,
    fmt: str,
    output: Path | None,
    fail_on: str,
) -> int:
    """Recommend requests, limits, GOMEMLIMIT, grace period, replicas and alerts from drills.

    \b
      killproof drill examples/orders-fixed --format json -o drill.json
      killproof plan drill.json --manifest examples/orders-fixed/deploy/deployment.yaml \\
          --target-rps 1000 --alerts-out alerts.yaml --write-patch plan-patch/
      killproof plan examples/orders-fixed      # drill it first, then plan
    """
    if write_patch is not None and in_place:
        raise click.UsageError("--write-patch and --in-place exclude each other")
    dirs = [p for p in inputs if p.is_dir()]
    if len(dirs) > 1:
        raise click.UsageError("give one repository PATH (or drill reports)")
    reports = read_reports([p for p in inputs if not p.is_dir()])
    if dirs:
        reports.append(drill_path(dirs[0]))
    now: Deployed | None = None
    if manifest is not None:
        now = from_manifest(manifest, combine(reports).service)
    elif dirs:
        now = linked_container(dirs[0])
    if (write_patch is not None or in_place) and now is None:
        raise InputError("--write-patch and --in-place need --manifest (or a PATH it deploys)")
    settings = PlanSettings(Strategy(strategy), target_rps, cpu_limit)
    report, plan = build_report(reports, now, settings)
    written: dict[str, Any] = {}
    if write_patch is not None and now is not None:
        written["patch"] = [str(p) for p in write_patch_dir(plan, now, write_patch)]
    if in_place and now is not None:
        written["edited"] = str(edit_in_place(plan, now))
    if alerts_out is not None:
        ev = combine(reports)
        target = AlertTarget(
            container=now.container if now else ev.service,
            namespace=now.namespace if now and now.namespace != "default" else "",
        )
        text = to_yaml(document(ev, target, AlertsFormat(alerts_format)))
        try:
            alerts_out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write alerts: {exc.strerror}", str(alerts_out)) from exc
        written["alerts"] = str(alerts_out)
    if written:
        report, plan = build_report(reports, now, settings, {"written": written})
    code = emit(report, fmt, output, fail_on)
    # A refusal is a failed plan, unless --fail-on none asked never to fail.
    return max(code, 1) if plan.refusal is not None and fail_on != FAIL_NEVER else code
