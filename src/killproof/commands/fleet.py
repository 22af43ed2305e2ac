"""``killproof fleet``: every workload of a cluster ranked by how likely it is to be killed
next, from Prometheus history (+ the workloads' objects from the API or dumps)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from killproof.commands.common import emit, output_options
from killproof.errors import InputError
from killproof.fleet.prometheus import PrometheusAccess
from killproof.fleet.run import NAMESPACES_PER_BATCH, FleetSettings, run_fleet
from killproof.fleet.window import parse_at, parse_window

EPILOG = """\b
Needs nothing but a Prometheus URL with cAdvisor and kube-state-metrics series; add
--kube-context or --from-dump to judge the workloads' objects with check's deploy rules
(grace vs drain, GOMEMLIMIT …). Score: docs/fleet.md.

\b
Examples:
  killproof fleet --prometheus http://prometheus:9090
  killproof fleet --prometheus https://thanos.example --bearer-token-file token --window 14d
  kubectl get deploy,sts,ds,pods,events -A -o json > dump/all.json
  killproof fleet --prometheus http://localhost:9090 --from-dump dump --format csv -o fleet.csv
"""

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("fleet", epilog=EPILOG)
@click.option("--prometheus", "url", required=True, help="Prometheus (or Thanos/Mimir) base URL.")
@click.option("--window", default="7d", show_default=True, help="History window (7d, 36h, 2w).")
@click.option("--namespace", "namespaces", multiple=True, help="Only this namespace; repeatable.")
@click.option(
    "--from-dump",
    "dump_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of `kubectl get deploy,sts,ds,pods,events -A -o json` dumps.",
)
@click.option("--kube-context", help="Read the workloads from this kubeconfig context's API.")
@click.option("--kubeconfig", type=_FILE, help="Kubeconfig file (default: $KUBECONFIG, ~/.kube).")
@click.option("--bearer-token-file", type=_FILE, help="Send this file's token as a Bearer token.")
@click.option("--basic-auth-file", type=_FILE, help="A file holding user:password.")
@click.option("--ca-file", type=_FILE, help="CA bundle to verify Prometheus' TLS certificate.")
@click.option("--insecure-skip-verify", is_flag=True, help="Do not verify Prometheus' TLS.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds per query.")
@click.option("--concurrency", default=4, show_default=True, help="Queries in flight at once.")
@click.option(
    "--batch-namespaces",
    default=NAMESPACES_PER_BATCH,
    show_default=True,
    help="Namespaces per query.",
)
@click.option(
    "--at",
    "at_text",
    hidden=True,
    help="End the window at this time (Unix s or RFC 3339), not now: reproducible runs.",
)
@output_options(default_fail_on="none")
def command(
    url: str,
    window: str,
    namespaces: tuple[str, ...],
    dump_dir: Path | None,
    kube_context: str | None,
    kubeconfig: Path | None,
    bearer_token_file: Path | None,
    basic_auth_file: Path | None,
    ca_file: Path | None,
    insecure_skip_verify: bool,
    timeout: float,
    concurrency: int,
    batch_namespaces: int,
    at_text: str | None,
    fmt: str,
    output: Path | None,
    fail_on: str,
) -> int:
    """Rank a cluster's workloads by how likely each is to be OOM-killed next, and size them.

    Reads, over --window, each container's working-set peak and trend, limit and request,
    OOM kills and restarts, CPU throttling and Go runtime metrics where scraped.
    """
    if dump_dir is not None and kube_context is not None:
        raise InputError("give --from-dump or --kube-context, not both")
    if concurrency < 1 or timeout <= 0:
        raise InputError("--concurrency must be ≥ 1 and --timeout > 0")
    settings = FleetSettings(
        access=PrometheusAccess(
            url=url,
            bearer_token_file=bearer_token_file,
            basic_auth_file=basic_auth_file,
            ca_file=ca_file,
            insecure_skip_verify=insecure_skip_verify,
            timeout_s=timeout,
            concurrency=concurrency,
        ),
        window_s=parse_window(window),
        at=parse_at(at_text) if at_text else time.time(),
        namespaces=namespaces,
        dump_dir=dump_dir,
        kube_context=kube_context,
        kubeconfig=kubeconfig,
        batch_namespaces=batch_namespaces,
    )
    with _progress_bar() as progress:
        report = run_fleet(settings, progress)
    for skip in report.skipped:
        if skip.what.startswith("query "):
            click.echo(f"killproof: warning: {skip.what}: {skip.reason}", err=True)
    return emit(report, fmt, output, fail_on)


@contextlib.contextmanager
def _progress_bar() -> Iterator[Callable[[int], Callable[[], None]]]:
    """A rich progress bar on stderr (drawn only on a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )

    def start(total: int) -> Callable[[], None]:
        task = bar.add_task("querying Prometheus", total=total)
        return lambda: bar.advance(task)

    with bar:
        yield start
