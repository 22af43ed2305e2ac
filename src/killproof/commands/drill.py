"""``killproof drill``: run the service under its real memory limit, load it, stop it, judge.

``killproof drill [options] -- CMD [ARGS…]`` drills a command; ``killproof drill PATH``
builds the Go main under PATH and takes limit, env, probes and grace period from the
workload that runs it. Exit status: 0 pass, 1 fail, 2 usage error (or a first request not
answered with a 2xx), 130 interrupted (after a partial report).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from killproof.commands.common import FC, emit, output_options
from killproof.config import process_environment
from killproof.drill.progress import ProgressDisplay
from killproof.drill.run import run_drill
from killproof.drill.settings import DrillOptions, OptionSpec, option_spec
from killproof.drill.setup import describe_env, prepare
from killproof.drill.verdict import build_report
from killproof.facts.drill import DrillResult


def drill_options() -> Callable[[FC], FC]:
    """The options of every :class:`DrillOptions` field, with the default and help the
    field carries, in field order."""

    def decorate(func: FC) -> FC:
        for f in reversed(dataclasses.fields(DrillOptions)):
            spec = option_spec(f.metadata)
            if spec is not None:
                func = click.option(*spec.flags, f.name, **_click_kwargs(spec, f.default))(func)
        return func

    return decorate


def _click_kwargs(spec: OptionSpec, default: object) -> dict[str, Any]:
    """How click reads one option."""
    kwargs: dict[str, Any] = {"help": spec.help, "show_default": spec.show_default}
    if spec.is_flag:
        kwargs["is_flag"] = True
    elif spec.multiple:
        kwargs["multiple"] = True
    elif default is not None:
        kwargs["default"] = default
    if spec.metavar:
        kwargs["metavar"] = spec.metavar
    if spec.choices:
        kwargs["type"] = click.Choice(spec.choices)
    elif spec.existing_file:
        kwargs["type"] = click.Path(exists=True, dir_okay=False, path_type=Path)
    elif spec.bounds is not None:
        kwargs["type"] = click.FloatRange(*spec.bounds)
    elif spec.number is not None:
        kwargs["type"] = spec.number
    return kwargs


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
@drill_options()
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
