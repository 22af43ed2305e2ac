"""``killproof check [PATH…]``: read Go code and its deploy files, report what will get
the service killed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from killproof.check.deploy_read import DEPLOY_FILE_MAX_BYTES
from killproof.check.run import STDIN, CheckOptions, run_check
from killproof.commands.common import emit, output_options
from killproof.errors import InputError


@click.command("check")
@click.argument("paths", nargs=-1)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes for parsing Go (0: one per CPU).",
)
@click.option(
    "--include-tests",
    is_flag=True,
    default=None,
    help="Also judge test and tooling trees (test/, e2e/, mocks, hack/, compose files for "
    "tests), which are left out by default (.killproof.yaml: include_tests: true).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read this .killproof.yaml for every PATH instead of each PATH's own "
    "(see docs/config.md).",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Do not read files matching GLOB (e.g. 'gen/**', '*.pb.go'; as printed or relative "
    "to PATH); repeatable.",
)
@click.option(
    "--disable",
    multiple=True,
    metavar="KPxxx",
    callback=lambda _c, _p, v: _rule_ids(v),
    help="Do not report this rule; repeatable.",
)
@click.option(
    "--enable",
    multiple=True,
    metavar="KPxxx",
    callback=lambda _c, _p, v: _rule_ids(v),
    help="Report only these rules (all when not given); repeatable.",
)
@output_options()
def command(
    paths: tuple[str, ...],
    jobs: int,
    include_tests: bool | None,
    config_file: Path | None,
    exclude: tuple[str, ...],
    disable: frozenset[str],
    enable: frozenset[str],
    fmt: str,
    output: Path | None,
    fail_on: str,
) -> int:
    """Check Go sources and deploy files under PATH… ('.' by default; '-' reads
    Kubernetes manifests from standard input)."""
    stdin_text = _read_stdin() if STDIN in paths else None
    options = CheckOptions(
        jobs=jobs,
        include_tests=include_tests or None,
        config=config_file,
        exclude=exclude,
        disable=disable,
        enable=enable,
        paths_as_given=True,
    )
    report = run_check(paths or (".",), options, stdin_text)
    return emit(report, fmt, output, fail_on)


def _rule_ids(values: tuple[str, ...]) -> frozenset[str]:
    """Rule ids (or names) of ``--enable``/``--disable``, each one known to the catalog."""
    from killproof.commands.rules import find_rule

    ids: set[str] = set()
    for value in values:
        for part in value.split(","):
            if part.strip():
                ids.add(find_rule(part.strip()).id)
    return frozenset(ids)


def _read_stdin() -> str:
    """Standard input as text, at most DEPLOY_FILE_MAX_BYTES (more is refused, exit 2)."""
    binary = getattr(sys.stdin, "buffer", None)  # absent when stdin was replaced by text
    data: str | bytes = (binary or sys.stdin).read(DEPLOY_FILE_MAX_BYTES + 1)
    if len(data) > DEPLOY_FILE_MAX_BYTES:
        raise InputError(f"larger than {DEPLOY_FILE_MAX_BYTES >> 20} MiB: not read", "<stdin>")
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", "<stdin>") from exc
