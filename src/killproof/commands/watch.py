"""``killproof watch``: record the evidence an OOM kill destroys, and warn before it.

``killproof watch (--pid PID | --cgroup PATH | --name NAME | -- CMD…) [--out DIR]``. Runs
until the target dies (``--name`` waits for its next process), or until SIGTERM/SIGINT,
which flush the last window and exit 0.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from killproof.drill.load_plan import parse_duration
from killproof.drill.quantity import parse_bytes
from killproof.errors import InputError
from killproof.watch.exporter import parse_address
from killproof.watch.run import Watcher, WatchSettings
from killproof.watch.target import TargetSpec
from killproof.watch.triggers import TriggerSettings


@click.command("watch", context_settings={"ignore_unknown_options": False})
@click.option("--pid", type=int, help="Watch this running process.")
@click.option("--cgroup", "cgroup_dir", type=click.Path(path_type=Path),
              help="Watch the biggest process in this memory cgroup (re-attach after a death).")  # fmt: skip
@click.option("--name", help="Watch the process with this name; re-attach when it restarts.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("killproof-watch"),
              show_default=True, help="Where captures and post-mortems go.")  # fmt: skip
@click.option("--interval", default="1s", show_default=True, help="Sampling interval.")
@click.option("--window", default="10m", show_default=True,
              help="Samples kept for captures and the post-mortem.")  # fmt: skip
@click.option("--pprof", default="", help="The service's pprof/metrics base URL "
              "(http://127.0.0.1:6060): heap profiles, goroutine dumps and counts. "
              "[the first of its listening ports that serves /debug/pprof/]")  # fmt: skip
@click.option("--max-disk", help="Keep captures under this size (oldest pruned): 500Mi.")
@click.option("--limit", help="The memory limit when its cgroup can't be read (a sidecar).")
@click.option("--memory-ratio", default=0.8, show_default=True, type=float,
              help="Capture when memory is above this share of the limit.")  # fmt: skip
@click.option("--projected", default="10m", show_default=True,
              help="Capture when the trend reaches the limit within this time.")  # fmt: skip
@click.option("--goroutines", type=int, help="Capture when there are more goroutines.")
@click.option("--cooldown", default="5m", show_default=True, help="Per trigger.")
@click.option("--exporter", help="Serve the watcher's own metrics at HOST:PORT (loopback).")
@click.option("--exporter-public", is_flag=True, help="Allow a non-loopback --exporter.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def command(
    pid: int | None,
    cgroup_dir: Path | None,
    name: str | None,
    out: Path,
    interval: str,
    window: str,
    pprof: str,
    max_disk: str | None,
    limit: str | None,
    memory_ratio: float,
    projected: str,
    goroutines: int | None,
    cooldown: str,
    exporter: str | None,
    exporter_public: bool,
    command: tuple[str, ...],
) -> int:
    """Watch a Go service: capture heap profiles and goroutine dumps before an OOM kill
    (memory near the limit, a leak flagged, the limit projected soon), and write a
    post-mortem report naming the kill when it dies.

    \b
      killproof watch --pid 4242 --pprof http://127.0.0.1:6060 --out /var/lib/killproof
      killproof watch --name orders --max-disk 500Mi --exporter 127.0.0.1:9464
      killproof watch --out captures -- ./orders --port 8080
    """
    given = [x for x in (pid is not None, cgroup_dir is not None, name is not None,
                         bool(command)) if x]  # fmt: skip
    if len(given) != 1:
        raise InputError("give exactly one of --pid, --cgroup, --name or -- COMMAND")
    ratio_ok = 0 < memory_ratio <= 1
    if not ratio_ok:
        raise InputError(f"--memory-ratio {memory_ratio}: a share of the limit, 0 < r <= 1")
    settings = WatchSettings(
        target=TargetSpec(pid=pid, cgroup=cgroup_dir, name=name, command=command),
        out=out,
        interval_s=parse_duration(interval),
        window_s=parse_duration(window),
        pprof=pprof,
        max_disk_bytes=parse_bytes(max_disk, "--max-disk") if max_disk else None,
        limit_bytes=parse_bytes(limit, "--limit") if limit else None,
        triggers=TriggerSettings(
            memory_ratio=memory_ratio,
            projected_s=parse_duration(projected),
            goroutines=goroutines,
            cooldown_s=parse_duration(cooldown),
        ),
        exporter=parse_address(exporter, exporter_public) if exporter else None,
        reattach=name is not None or cgroup_dir is not None,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        outcome = Watcher(settings, stop).run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for path in outcome.postmortems:
        click.echo(f"post-mortem: {path}")
    for report in outcome.reports:
        click.echo(report.summary)
    click.echo(f"{outcome.capture_count} captures in {out}", err=True)
    return 0
