"""``killproof drill``: run the service under its real memory limit, load it, stop it, judge.

``killproof drill [options] -- CMD [ARGS…]`` drills a command; ``killproof drill PATH``
builds the Go main under PATH and takes limit, env, probes and grace period from the
workload that runs it. Exit status: 0 pass, 1 fail, 2 usage error (or a first request not
answered with a 2xx), 130 interrupted (after a partial report).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import click

from killproof.commands.common import emit, output_options
from killproof.config import process_environment
from killproof.drill.load_plan import Engine
from killproof.drill.progress import ProgressDisplay
from killproof.drill.result import DrillResult
from killproof.drill.run import run_drill
from killproof.drill.sandbox import SandboxChoice
from killproof.drill.setup import DrillOptions, describe_env, prepare
from killproof.drill.verdict import build_report


def shown_path(path: str | Path, cwd: Path) -> str:
    """``path`` for a person, as ``check`` prints paths: relative to ``cwd`` (absolute) when
    it is inside it, else unchanged (a temporary directory stays absolute: ``../../tmp/…``
    helps nobody)."""
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    try:
        return p.relative_to(cwd).as_posix() or "."
    except ValueError:
        return str(path)


def shown_paths(result: DrillResult, cwd: Path, built: bool) -> DrillResult:
    """``result`` with the heap profiles' paths, and the binary when the drill ``built``
    it, as :func:`shown_path` gives them (a command the user typed is left as typed)."""
    command = result.command
    if built and command:
        command = (shown_path(command[0], cwd), *command[1:])
    profiles = tuple(replace(p, path=shown_path(p.path, cwd)) for p in result.profiles)
    return replace(result, command=command, profiles=profiles)


@click.command("drill")
@click.argument("target", nargs=-1, type=click.UNPROCESSED, metavar="PATH | -- CMD [ARGS]...")
@click.option(
    "--memory", help="Memory limit (64Mi, 128M, 1Gi). Default: the manifest's, else 128Mi."
)
@click.option("--cpus", help="CPU limit (1.5 or 500m) where the cgroup allows.")
@click.option("--port", type=int, help="The service's loopback port, passed as env PORT. [18090]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the service listens.")
@click.option("--ready", help="Readiness check: an HTTP path (/readyz), tcp, or :PORT/path.")
@click.option("--ready-cmd", help="Readiness check: a shell command that exits 0 when ready.")
@click.option(
    "--startup-timeout", default="60s", show_default=True, help="Give up waiting for readiness."
)
@click.option(
    "--max-startup", help="Startup longer than this is a finding (KP608). [probe budget, else 10s]"
)
@click.option("--request", help="Request template, e.g. 'GET /orders?id={n}'. "
              "[PATH: a route found in the code answered with a 2xx, its query keys set "
              "to {n}; else GET /]")  # fmt: skip
@click.option("--requests", "requests_file", help="A YAML list or HAR file of requests.",
              type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--rate", help="Requests/s per step: 200, or 100,200,400, or max. [100]")
@click.option("--ramp", help="A ramp run as steps: 50..2000/30s.")
@click.option("--duration", default="40s", show_default=True, help="Length of each --rate step.")
@click.option("--connections", default=64, show_default=True, help="Client connections.")
@click.option("--timeout", default="5s", show_default=True, help="Per-request timeout.")
@click.option("--grace", help="Grace period after the stop signal. [manifest's, else 30s]")
@click.option("--stop-signal", help="Stop signal. [manifest's / Dockerfile's, else SIGTERM]")
@click.option("--slo", default="p99<300ms", show_default=True, help="Latency objective per step.")
@click.option(
    "--target-rate", type=float, help="Rate that must hold the SLO (KP609). [highest step]"
)
@click.option("--sandbox", type=click.Choice([c.value for c in SandboxChoice]), default="auto",
              show_default=True, help="How the memory limit is enforced.")  # fmt: skip
@click.option("--engine", type=click.Choice([e.value for e in Engine]), default="builtin",
              show_default=True, help="Load generator.")  # fmt: skip
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
@click.option(
    "--env", "env", multiple=True, metavar="KEY=VALUE", help="Extra environment (repeat)."
)
@click.option("--shutdown-test/--no-shutdown-test", default=True, show_default=True,
              help="Send the stop signal under load at the end.")  # fmt: skip
@click.option("--thrash-after", default="10s", show_default=True,
              help="Pinned at the limit this long, no OOM kill: thrash (KP610).")  # fmt: skip
@click.option("--sample-hz", default=10.0, show_default=True, type=click.FloatRange(5, 100),
              help="Memory sampling rate (Hz).")  # fmt: skip
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep logs, binary and heap profiles here. [a temporary directory, "
              "removed unless it holds heap profiles]")  # fmt: skip
@click.option("--progress/--no-progress", default=None, help="Live progress on stderr. [on a TTY]")
@output_options()
def command(
    *,
    target: tuple[str, ...],
    fmt: str,
    output: Path | None,
    fail_on: str,
    progress: bool | None,
    work_dir: Path | None,
    **values: object,
) -> int:
    """Run a Go service under its real memory limit, load it in steps, SIGTERM it, judge.

    \b
      killproof drill --memory 64Mi --rate 100,200 --duration 20s \\
          --request 'GET /orders?id={n}' -- ./orders
      killproof drill examples/orders      # limit, env, probes, grace from the manifest
    """
    opts = DrillOptions(target=target, work_dir=work_dir, **values)  # type: ignore[arg-type]
    plan = prepare(opts, process_environment())  # every usage error before any file exists
    directory = work_dir or Path(tempfile.mkdtemp(prefix="killproof-drill-run-"))
    keep = work_dir is not None
    try:
        config, notes = plan.complete(directory)
        show = sys.stderr.isatty() if progress is None else progress
        with ProgressDisplay(enabled=show) as display:
            result = run_drill(config, display.update)
        # A temporary work dir outlives the drill only for what the report cites.
        keep = keep or bool(result.profiles)
        result = replace(result, notes=(*notes, *result.notes))
        # Paths as check prints them: relative to the current directory when inside it.
        result = shown_paths(result, Path.cwd(), built=plan.main_dir is not None)
        metadata: dict[str, object] = {"env": describe_env(config.env), "port": config.port}
        if plan.main_dir is not None:
            metadata["built_from"] = target[0]
        if keep:
            metadata["work_dir"] = shown_path(directory.absolute(), Path.cwd())
        report = build_report(result, metadata)
        code = emit(report, fmt, output, fail_on)
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    if result.interrupted:
        # What was measured is printed above; the exit status still says "interrupted".
        click.echo("killproof: interrupted", err=True)
        return 130
    # A crash under load fails the drill even though no KP6xx rule names it.
    return max(code, 1) if report.sections["verdict"] == "fail" else code
