"""``killproof why``: explain a kill from its evidence."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from killproof.commands.common import emit, output_options
from killproof.why.clocktime import system_clock
from killproof.why.run import LiveOptions, explain_kills

EPILOG = """\b
Inputs are recognised by content: kernel logs (dmesg raw/-T/iso, journalctl -k, syslog,
console captures), kubectl get pod/events (JSON/YAML/text), kubectl describe pod/node,
systemd journals, earlyoom, docker inspect, Go/shell output ('signal: killed', 'Killed').
With no input, reads this machine's kernel log (dmesg, else journalctl -k): kills newest
first, with clock times. --pid/--cgroup show the cgroup's counters even when nothing died.

\b
Examples:
  killproof why /var/log/kern.log pod.json
  kubectl get events -o json | killproof why - --format json
  killproof why --exit-code 137 --pid 4242
"""


@click.command("why", epilog=EPILOG)
@click.argument("inputs", nargs=-1, type=str, metavar="[FILE|-]...")
@click.option(
    "--exit-code",
    "exit_codes",
    type=int,
    multiple=True,
    help="An exit status you saw (137 = SIGKILL, 143 = SIGTERM); repeatable.",
)
@click.option(
    "--pid",
    type=int,
    help="Show the live counters of this process's memory cgroup (usage, limit, failcnt, "
    "oom_kill) and only the kernel log's kills in it.",
)
@click.option(
    "--cgroup",
    type=click.Path(path_type=Path),
    help="The same for a memory cgroup directory (a /sys/fs/cgroup path).",
)
@click.option(
    "--live/--no-live",
    default=None,
    help="Also read this machine's kernel log (default: only when no input is given).",
)
@output_options()
def command(
    inputs: tuple[str, ...],
    exit_codes: tuple[int, ...],
    pid: int | None,
    cgroup: Path | None,
    live: bool | None,
    fmt: str,
    output: Path | None,
    fail_on: str,
) -> int:
    """Explain a kill: who killed which process, why, with what memory against what limit."""
    read_kernel = live if live is not None else not inputs and not exit_codes
    live_options = None
    if read_kernel or pid is not None or cgroup is not None:
        live_options = LiveOptions(
            read_kernel_log=read_kernel, pid=pid, cgroup=str(cgroup) if cgroup else None
        )
    stdin = sys.stdin.buffer if sys.stdin is not None else None  # None: fd 0 is closed
    # Now and the boot time, read once here: a raw kernel log's seconds since boot become
    # clock times, and every kill says how long ago it was.
    report = explain_kills(inputs, stdin, exit_codes, live_options, system_clock())
    return emit(report, fmt, output, fail_on)
