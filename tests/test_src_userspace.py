"""Android lmkd, Zygote and Talos' OOM controller (``sources/userspace.py``), read the way
``why`` reads a log; each input is a minimal line written from the format."""

from __future__ import annotations

import io
from typing import Any

from killproof.why.run import build_report, read_stream


def _why(text: str) -> list[dict[str, Any]]:
    events = list(read_stream(io.BytesIO(text.encode()), "logcat.txt"))
    return list(build_report(events, (), ("logcat.txt",)).sections["events"])


def test_lmkd_kill_and_zygote_confirmation_are_one_death() -> None:
    text = (
        "01-02 03:04:05.000   710   710 I lowmemorykiller: Kill 'com.example.app' (4242), "
        "uid 10001, oom_score_adj 900 to free 1000kB rss, 0kB swap; reason: low watermark\n"
        "01-02 03:04:05.010  1115  1115 I Zygote  : Process 4242 exited due to signal 9 (Killed)\n"
        "01-02 03:04:06.000  1115  1115 I Zygote  : Process 77 exited due to signal 9 (Killed)\n"
    )
    got = [(e["cause"], e["pid"], e["process"], e["oom_score_adj"]) for e in _why(text)]
    assert sorted(got, key=lambda g: g[1]) == [
        ("SIGKILL_UNKNOWN", 77, None, None),
        ("USERSPACE_OOM_OTHER", 4242, "com.example.app", 900),
    ]


def test_talos_oom_controller_kills_a_cgroup() -> None:
    text = (
        '[talos] Sending SIGKILL to cgroup {"controller": "runtime.OOMController", '
        '"cgroup": "/sys/fs/cgroup/kubepods/besteffort/podx"}\n'
    )
    [event] = _why(text)
    assert (event["cause"], event["pid"], event["task_memcg"]) == (
        "USERSPACE_OOM_OTHER",
        None,
        "/kubepods/besteffort/podx",
    )


def test_zygote_other_signals_are_not_kills() -> None:
    assert _why("I Zygote  : Process 5 exited due to signal 15 (Terminated)\n") == []


def test_oom_kill_counter_rising_between_two_reads_is_a_kernel_kill() -> None:
    text = (
        "$ grep '^oom_kill ' /sys/fs/cgroup/memory/memory.oom_control\n"
        "oom_kill 2\n"
        "$ ./grow\n"
        "Killed\n"
        "$ cat memory.events\n"
        "oom_kill 3\n"
    )
    [event] = _why(text)
    assert (event["cause"], event["killed"]) == ("KERNEL_OOM_UNKNOWN_SCOPE", True)
    assert [e["line"] for e in event["evidence"]] == [2, 4, 6]  # the shell's Killed joined it
    assert _why("oom_kill 0\noom_kill 0\n") == [] and _why("oom_kill 5\n") == []
