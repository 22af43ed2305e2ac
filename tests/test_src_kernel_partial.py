"""Partial OOM reports and pre-4.19 scope, read as a user pastes them (issue 10).

Every input is a minimal line set written from the kernel's own format strings
(mm/oom_kill.c, mm/memcontrol.c, dump_stack) — no capture is copied. Each goes through the
scanner with its anchors, as ``killproof why`` reads a file, so a line the scanner never
hands to the parser fails here too.
"""

from __future__ import annotations

import io

import pytest

from killproof.facts.kill import Cause, KillEvent
from killproof.rules.kill import explain
from killproof.sources.kernel import KernelOomParser
from killproof.sources.logscan import Prefilter, scan
from killproof.sources.logwrap import unwrap

G, M, U = Cause.KERNEL_OOM_GLOBAL, Cause.KERNEL_OOM_MEMCG, Cause.KERNEL_OOM_UNKNOWN_SCOPE
HEADER = "[ 10.000001] app invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"
CPU = "[ 10.000002] CPU: 1 PID: 4242 Comm: app Not tainted 5.4.0-1-generic #1-Ubuntu"
HARDWARE = "[ 10.000003] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996)"
CALL = "[ 10.000004] Call Trace:"
GLOBAL_TRACE = [
    "[ 10.000005]  dump_header+0x4f/0x1e1",
    "[ 10.000006]  oom_kill_process.cold+0xb/0x10",
    "[ 10.000007]  out_of_memory+0x1bf/0x4e0",
    "[ 10.000008]  __alloc_pages_slowpath+0xd40/0xe24",
    "[ 10.000009]  ? unlock_page_memcg+0x12/0x20",
]
MEMCG_TRACE = [
    "[ 10.000005]  out_of_memory+0x1bf/0x4e0",
    "[ 10.000006]  mem_cgroup_out_of_memory+0xba/0xd0",
    "[ 10.000007]  try_charge+0x76c/0x7f0",
    "[ 10.000008]  ? __alloc_pages_nodemask+0x16c/0x320",
]


def _why(lines: list[str]) -> list[KillEvent]:
    data = ("\n".join(lines) + "\n").encode()
    return list(scan(io.BytesIO(data), "x", [KernelOomParser("x")], Prefilter.PYTHON))


def _facts(events: list[KillEvent]) -> list[tuple[Cause, int | None, bool]]:
    return [(e.cause, e.pid, e.killed) for e in events]


@pytest.mark.parametrize(
    ("prefix", "cause"), [("Out of memory", G), ("Memory cgroup out of memory", M)]
)
def test_pre_4_19_selection_prefix_is_the_scope(prefix: str, cause: Cause) -> None:
    [event] = _why(
        [
            f"Jan  1 00:00:01 h kernel: {prefix}: Kill process 10 (app) score 900 or sacrifice child",
            "Jan  1 00:00:01 h kernel: Killed process 11 (worker) total-vm:2048kB, "
            "anon-rss:1024kB, file-rss:0kB",
        ]
    )
    assert (event.cause, event.pid, event.selected_pid, event.anon_rss_kb) == (
        cause,
        11,
        10,
        1024,
    )


@pytest.mark.parametrize(
    ("trace", "cause"),
    [(GLOBAL_TRACE, G), (MEMCG_TRACE, M), ([], U)],
    ids=["global", "memcg", "none"],
)
def test_a_report_cut_before_its_victim_is_an_oom_of_its_trace_scope(
    trace: list[str], cause: Cause
) -> None:
    [event] = _why([HEADER, CPU, HARDWARE, CALL, *trace])
    assert (event.cause, event.pid, event.invoker_pid) == (cause, None, 4242)
    assert event.evidence[0].line == 1


def test_a_report_that_starts_at_its_cpu_line_is_read_from_there() -> None:
    [event] = _why(["[ 9.0] usb 1-1: new device", CPU, HARDWARE, CALL, *MEMCG_TRACE])
    # the scan finds it at its out_of_memory frame (the CPU: line has no anchor of its own)
    assert (event.cause, event.pid) == (M, None)
    assert event.evidence[0].text == MEMCG_TRACE[0]


def test_a_memcg_stack_with_only_guessed_frames_is_memcg() -> None:
    trace = [
        "[ 9.1]  [<ffffffff810db186>] ? out_of_memory+0x286/0x3e0",
        "[ 9.2]  [<ffffffff8112cdd8>] ? mem_cgroup_oom_synchronize+0x4e8/0x550",
    ]
    [event] = _why([CPU, CALL, *trace])
    assert (event.cause, event.pid) == (M, None)


def test_another_warnings_stack_is_not_an_oom() -> None:
    lines = [CPU, HARDWARE, CALL, "[ 10.1]  ext4_readdir+0x1/0x2", "[ 10.2]  iterate_dir+0x3/0x4"]
    assert _why(lines * 3) == []


def test_a_grep_of_selection_lines_is_one_oom_each() -> None:
    lines = [
        f"Nov  5 21:{m:02}:00 h kernel: Memory cgroup out of memory: Kill process {pid} (java) "
        "score 1300 or sacrifice child"
        for m, pid in ((14, 100), (23, 200), (31, 300))
    ]
    events = _why(lines)
    assert _facts(events) == [(M, None, True)] * 3
    assert [e.selected_pid for e in events] == [100, 200, 300]


@pytest.mark.parametrize(
    ("summary", "cause"),
    [
        (
            "constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
            "task_memcg=/a.scope,task=app,pid=77,uid=0",
            G,
        ),
        (
            "constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=c,mems_allowed=0,oom_memcg=/p,"
            "task_memcg=/p/c,task=app,pid=77,uid=0",
            M,
        ),
    ],
)
def test_only_the_summary_line(summary: str, cause: Cause) -> None:
    [event] = _why(["$ dmesg | grep kill", f"[4650180.470877] oom-kill:{summary}"])
    assert _facts([event]) == [(cause, 77, True)]


def test_only_the_memcg_block() -> None:
    [event] = _why(
        [
            "Jun 29 07:24:44 h kernel:  </TASK>",
            "Jun 29 07:24:44 h kernel: memory: usage 1048576kB, limit 1048576kB, failcnt 141",
            "Jun 29 07:24:44 h kernel: swap: usage 0kB, limit 9007199254740988kB, failcnt 0",
        ]
    )
    assert (event.cause, event.pid, event.limit_kb) == (M, None, 1048576)


def test_task_in_line_decides_memcg() -> None:
    [event] = _why(
        ["[ 5.0] Task in /a/b killed as a result of limit of /a", "[ 5.0] Mem-Info-less tail"]
    )
    assert (event.cause, event.pid, event.oom_memcg) == (M, None, "/a")


def test_no_killable_processes_then_the_panic_is_global() -> None:
    [event] = _why(
        [
            "[ 3.0] Out of memory and no killable processes...",
            "[ 3.0] Kernel panic - not syncing: System is deadlocked on memory",
        ]
    )
    assert _facts([event]) == [(G, None, False)]


def test_no_killable_processes_then_the_log_goes_on_is_memcg() -> None:
    first, second = _why(["kernel: Out of memory and no killable processes...", HEADER, CPU])
    assert _facts([first]) == [(M, None, False)]
    assert (second.cause, second.pid) == (U, None)


def test_panic_on_oom_kills_nothing() -> None:
    [event] = _why(
        ["[ 9.1] Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled"]
    )
    assert _facts([event]) == [(G, None, False)]


def test_a_header_pasted_twice_is_one_report() -> None:
    [event] = _why([HEADER, HEADER, CPU, CPU, *GLOBAL_TRACE])
    assert (event.cause, event.pid) == (G, None)


def test_a_burst_of_selection_and_kill_pairs_keeps_each_scope() -> None:
    lines = []
    for pid in (501, 502, 503):
        lines += [
            f"kernel: Memory cgroup out of memory: Kill process {pid} (t) score 0 or sacrifice child",
            f"kernel: Killed process {pid} (t), UID 0, total-vm:7296kB, anon-rss:96kB, file-rss:0kB",
        ]
    assert _facts(_why(lines)) == [(M, 501, True), (M, 502, True), (M, 503, True)]


def test_thousands_separators_in_sizes() -> None:
    [event] = _why(
        [
            "[ 1.0] Out of memory: Killed process 7 (py) total-vm:26,184,840kB, "
            "anon-rss:153,700,88kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1,024kB "
            "oom_score_adj:0"
        ]
    )
    assert (event.total_vm_kb, event.anon_rss_kb, event.file_rss_kb) == (26184840, 15370088, 0)
    assert event.oom_score_adj == 0


def test_a_reaper_line_alone_is_a_kill_and_a_late_one_is_not_a_second() -> None:
    kill = "[ 100.0] Out of memory: Killed process 5 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB"
    events = _why(
        [
            kill,
            "[ 200.0] oom_reaper: reaped process 5 (a), now anon-rss:0kB, file-rss:0kB",
            "[ 300.0] oom_reaper: reaped process 9 (b), now anon-rss:0kB, file-rss:0kB",
        ]
    )
    assert [(e.pid, e.cause, e.anon_rss_kb) for e in events] == [(5, G, 1), (9, U, None)]


KILL = "Out of memory: Killed process 908 (sleep) total-vm:3264kB, anon-rss:256kB, file-rss:0kB"


@pytest.mark.parametrize(
    ("line", "time", "host"),
    [
        (f"Mar 03 10:00:00 kernel: {KILL}", "Mar 03 10:00:00", None),
        (f"2026-03-03T10:00:00+00:00 kernel: {KILL}", "2026-03-03T10:00:00+00:00", None),
        (
            f"10.0.0.7: kern:    info: [2026-03-03T10:00:00.123456789Z]: {KILL}",
            "2026-03-03T10:00:00.123456789Z",
            "10.0.0.7",
        ),
    ],
    ids=["journal-no-host", "rfc3339-no-host", "talosctl-dmesg"],
)
def test_kernel_lines_without_a_host_field(line: str, time: str, host: str | None) -> None:
    [event] = _why([line])
    assert (event.cause, event.pid, event.anon_rss_kb) == (G, 908, 256)
    assert (event.time, event.host, event.reason) == (time, host, "Out of memory")


def test_other_writers_without_a_host_keep_their_tag() -> None:
    assert unwrap("Mar 03 10:00:00 systemd-oomd[12]: Killed /a.scope").ident is None


def test_double_space_after_killed_process() -> None:
    [event] = _why(["[ 1.0] " + KILL.replace("process 908", "process  908")])
    assert (event.pid, event.process) == (908, "sleep")


def test_a_log_flattened_onto_one_line_is_read_entry_by_entry() -> None:
    entries = [
        "[ 51.066296] sysrq: Manual OOM execution",
        "[ 51.066596] kworker/1:0 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=-1",
        "[ 51.066915] CPU: 1 UID: 0 PID: 27 Comm: kworker/1:0 Not tainted 6.17.1 #1",
        f"[ 51.088519] {KILL}",
        "[ 51.090263] app.sh[906]: + echo Result=oom-kill: done",
    ]
    [event] = _why(["Some prose with Result=oom-kill: in it: " + " ".join(entries)])
    assert (event.cause, event.pid, event.invoker_pid) == (G, 908, 27)
    assert event.evidence[-1].text.startswith("[ 51.088519] Out of memory: Killed process 908")


def test_one_console_stamp_inside_a_line_is_a_prefix_not_a_flattened_log() -> None:
    [event] = _why([f"percona # [ 16.869199] {KILL}"])
    assert (event.pid, event.uptime_s) == (908, 16.869199)


@pytest.mark.parametrize("trace", [MEMCG_TRACE, GLOBAL_TRACE, []], ids=["memcg", "global", "none"])
def test_a_cut_report_is_explained_without_a_victim(trace: list[str]) -> None:
    [event] = _why([HEADER, CPU, *trace])
    text = explain(event).explanation
    assert "does not name the victim" in text
    assert "memory cgroup a memory cgroup" not in text and "  " not in text


def test_a_named_victim_needs_no_excuse() -> None:
    [event] = _why(["[ 1.0] Memory cgroup out of memory: " + KILL.split(": ", 1)[1]])
    text = explain(event).explanation
    assert "sleep (pid 908)" in text and "its memory cgroup reached its limit" in text
    assert "does not name the victim" not in text


def test_an_excerpt_that_starts_at_the_memcg_block_cites_that_line_once() -> None:
    [event] = _why(
        ["[ 7.0] memory: usage 2048kB, limit 2048kB, failcnt 3", "[ 7.0] swap: usage 0kB"]
    )
    assert [(e.line, e.text[:22]) for e in event.evidence] == [(1, "[ 7.0] memory: usage 2")]


@pytest.mark.parametrize(
    "line",
    [
        '  File "app.py", line 3, in out_of_memory',
        "handler.out_of_memory() failed",
        "[ 9.3]  try_charge_memcg+0x1/0x2",  # a memcg charge path of some other warning
    ],
)
def test_a_name_that_is_not_an_oom_frame_starts_nothing(line: str) -> None:
    assert _why([CPU, CALL, line, "[ 9.4]  __alloc_pages+0x5/0x6"]) == []


def test_a_sysrq_oom_with_nothing_to_kill_is_machine_wide() -> None:
    [event] = _why(
        [
            "[ 5.0] kworker/1:0 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=-1, "
            "oom_score_adj=0",
            "[ 5.1] Out of memory and no killable processes...",
            "[ 5.2] sysrq: Show Memory",
        ]
    )
    assert _facts([event]) == [(G, None, False)]
