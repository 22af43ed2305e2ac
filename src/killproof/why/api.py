"""What other commands ask of ``why``: the kernel's verdict on a death they watched."""

from __future__ import annotations

from killproof.facts.kill import KillEvent
from killproof.why.merge import merge
from killproof.why.run import LiveOptions, read_live


def kernel_kills_since(uptime_s: float, pid: int | None = None) -> list[KillEvent]:
    """Kernel OOM kills in this machine's log at or after ``uptime_s`` (seconds since boot,
    as in raw ``dmesg``), optionally only those whose victim is ``pid``.

    Reads ``dmesg`` (or ``journalctl -k``); returns an empty list when neither is readable.
    """
    events, _ = read_live(LiveOptions(read_kernel_log=True))
    return [
        e
        for e in merge(events)
        if (e.uptime_s is None or e.uptime_s >= uptime_s) and (pid is None or e.pid == pid)
    ]
