"""The kernel parser on damaged input: garbage never raises, mutated real logs never raise,
and the edge cases of grouping (lone lines, reapers, pastes) give the right events."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from killproof.errors import InputError
from killproof.facts.kill import Cause, KillEvent, LimitScope
from killproof.sources.kernel import KernelOomParser, parse_kernel_log
from killproof.sources.logscan import Prefilter, scan
from killproof.sources.sniff import BINARY_SHARE, non_text_share, nul_runs

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernel"


def parse_text(text: str) -> list[KillEvent]:
    """Events of a log given as one string."""
    return parse_kernel_log(text.splitlines())


REAL = sorted(FIXTURES.glob("*.log"))
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "kernel"
REAL_LINES = [line for path in REAL for line in path.read_text().splitlines()]


def _sane(events: list[KillEvent]) -> None:
    for event in events:
        assert event.source == "kernel"
        assert event.cause in (
            Cause.KERNEL_OOM_GLOBAL,
            Cause.KERNEL_OOM_MEMCG,
            Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        )
        if event.killed and event.pid is None:
            # a report cut before its victim: no line of it names a killed pid
            assert not any("Killed process" in e.text for e in event.evidence)
        assert len(event.top_tasks) <= 10
        assert [t.rss_kb for t in event.top_tasks] == sorted(
            (t.rss_kb for t in event.top_tasks), reverse=True
        )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=120), st.sampled_from(REAL_LINES)), max_size=60))
def test_any_lines_never_raise(lines: list[str]) -> None:
    _sane(parse_kernel_log(lines))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_through_the_scanner_never_raise(data: bytes) -> None:
    try:
        _sane(list(scan(io.BytesIO(data), "x", [KernelOomParser()], Prefilter.PYTHON)))
    except InputError as exc:  # binary input is refused on purpose, and only that
        binary = "binary file, not a log or a Kubernetes document"
        assert exc.path == "x" and exc.message.startswith(binary)
        # judged by its share of non-text bytes or its strewn NULs, or a known format named
        strewn = nul_runs(data) > 16
        assert non_text_share(data) > BINARY_SHARE or strewn or exc.message.startswith(binary + ":")


MUTATION = st.tuples(
    st.sampled_from(["drop", "dup", "cut", "garbage", "swap", "digits"]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.text(max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(REAL), st.lists(MUTATION, max_size=8))
def test_mutated_real_logs_never_raise(
    path: Path, mutations: list[tuple[str, int, int, str]]
) -> None:
    lines = path.read_text().splitlines()
    for op, a, b, junk in mutations:
        if not lines:
            break
        i, j = a % len(lines), b % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: b % (len(lines[i]) + 1)]
        elif op == "garbage":
            lines.insert(i, junk)
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = "".join(str((int(c) + b) % 10) if c.isdecimal() else c for c in lines[i])
    _sane(parse_kernel_log(lines))
    text = "\n".join(lines).replace("\x00", "")
    _sane(list(scan(io.BytesIO(text.encode()), "x", [KernelOomParser()], Prefilter.PYTHON)))


def test_lone_killed_line_has_unknown_scope() -> None:
    [event] = parse_text(
        "Jan  3 10:00:00 box kernel: [ 88.1] Killed process 3001 (mysqld) total-vm:5000kB, "
        "anon-rss:4000kB, file-rss:12kB"
    )
    assert (event.cause, event.pid, event.limit_scope) == (
        Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        3001,
        None,
    )
    assert event.host == "box"


def test_grep_output_of_kill_lines_gives_one_event_each() -> None:
    events = parse_text(
        "[  1.0] Out of memory: Killed process 10 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB\n"
        "[  1.0] Out of memory: Killed process 11 (b) total-vm:1kB, anon-rss:1kB, file-rss:0kB\n"
        "[  1.1] Memory cgroup out of memory: Killed process 12 (c) total-vm:1kB, anon-rss:1kB, "
        "file-rss:0kB\n"
    )
    assert [(e.pid, e.cause) for e in events] == [
        (10, Cause.KERNEL_OOM_GLOBAL),
        (11, Cause.KERNEL_OOM_GLOBAL),
        (12, Cause.KERNEL_OOM_MEMCG),
    ]


def test_reaper_without_its_kill_is_a_kill_of_unknown_scope() -> None:
    # the reaper only runs on a task the OOM killer already sent SIGKILL (issue 10: the lines
    # alone are still OOM events); its "now anon-rss" is what is left, not the victim's size
    events = parse_text(
        "[ 5.0] oom_reaper: reaped process 77 (java), now anon-rss:0kB, file-rss:0kB, "
        "shmem-rss:0kB\n[ 6.0] oom_reaper: unable to reap pid:78 (java)"
    )
    assert [(e.pid, e.process, e.cause, e.killed, e.anon_rss_kb) for e in events] == [
        (77, "java", Cause.KERNEL_OOM_UNKNOWN_SCOPE, True, None),
        (78, "java", Cause.KERNEL_OOM_UNKNOWN_SCOPE, True, None),
    ]
    assert [e.evidence[0].line for e in events] == [1, 2]


def test_reaper_long_after_joins_its_kill_and_later_kills_stay_apart() -> None:
    lines = (FIXTURES / "debian9-4.9-global-shmem.log").read_text().splitlines()
    reaper = lines.pop()  # move the reaper 500 ordinary lines later
    lines += ["May 07 21:43:55 web-3 systemd[1]: Started x."] * 500 + [reaper]
    [event] = parse_kernel_log(lines)
    assert event.pid == 1190
    assert event.evidence[-1].line == len(lines)
    assert "oom_reaper: reaped process 1190" in event.evidence[-1].text


def test_held_events_are_released_after_thirty_seconds_of_log_time() -> None:
    parser = KernelOomParser()
    kill = "[ 100.0] Out of memory: Killed process 5 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB"
    assert list(parser.feed(1, kill)) == []  # waiting for a possible reaper line
    assert list(parser.feed(2, "[ 120.0] oom_reaper: reaped process 9 (z), now anon-rss:0kB")) == []
    [event] = parser.feed(
        3, "[ 131.0] Killed process 6 (b) total-vm:1kB, anon-rss:1kB, file-rss:0kB"
    )
    assert event.pid == 5
    # pid 9's reaper line is a kill of its own (its report is not in the log), 11 s old
    reaped, last = parser.finish()
    assert (reaped.pid, reaped.cause, last.pid) == (9, Cause.KERNEL_OOM_UNKNOWN_SCOPE, 6)


def test_wrapped_paste_of_a_killed_line_is_joined() -> None:
    [event] = parse_text(
        "[ 9.0] x invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n"
        "[ 9.0] Memory cgroup out of memory: Killed process 42 (x) total-vm:1000kB, anon-rss:44\n"
        "8kB, file-rss:12kB, shmem-rss:0kB\n"
    )
    assert (event.pid, event.anon_rss_kb, event.file_rss_kb) == (42, 448, 12)


def test_split_summary_never_takes_the_invoker() -> None:
    for path in [*REAL, *sorted(SHARED.glob("*.txt"))]:
        for event in parse_kernel_log(path.read_text().splitlines()):
            if event.pid is not None and event.invoker_pid not in (None, event.pid):
                assert f"Killed process {event.invoker_pid} " not in (event.message or "")


def test_global_oom_of_a_container_process_is_host_scope() -> None:
    [event] = parse_text(
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
        "task_memcg=/docker/0ab1,task=app,pid=321,uid=0\n"
        "Out of memory: Killed process 321 (app) total-vm:9kB, anon-rss:8kB, file-rss:0kB\n"
    )
    assert (event.cause, event.limit_scope, event.task_memcg, event.oom_memcg) == (
        Cause.KERNEL_OOM_GLOBAL,
        LimitScope.HOST,
        "/docker/0ab1",
        None,
    )


def test_a_kill_after_an_exiting_victim_is_its_own_report() -> None:
    text = (FIXTURES / "5.15-already-exiting.log").read_text() + (
        "[ 780.000100] Out of memory: Killed process 6000 (cron) total-vm:9kB, anon-rss:8kB, "
        "file-rss:0kB\n"
    )
    [event] = parse_kernel_log(text.splitlines())
    # not the memcg OOM of /docker/feed whose victim was already exiting: a separate, global one
    assert (event.pid, event.cause, event.oom_memcg, event.limit_kb) == (
        6000,
        Cause.KERNEL_OOM_GLOBAL,
        None,
        None,
    )
    assert [e.line for e in event.evidence] == [10]


def test_a_report_cut_off_before_its_kill_does_not_take_a_later_one() -> None:
    lines = (FIXTURES / "5.15-already-exiting.log").read_text().splitlines()[:7]  # no summary
    lines += ["[ 790.0] usb 1-1: new high-speed USB device"] * 1500
    lines += ["[ 800.0] Killed process 7000 (x) total-vm:9kB, anon-rss:8kB, file-rss:0kB"]
    cut, event = parse_kernel_log(lines)
    assert (event.pid, event.cause, event.limit_kb) == (7000, Cause.KERNEL_OOM_UNKNOWN_SCOPE, None)
    # the cut report is an OOM of its own whose victim the log does not show
    assert (cut.pid, cut.cause) == (None, Cause.KERNEL_OOM_MEMCG)
    assert all(e.line <= 7 for e in cut.evidence)


def test_v1_memsw_limit_when_memory_itself_is_unlimited() -> None:
    [event] = parse_text(
        "[ 5.0] app invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n"
        "[ 5.0] memory: usage 120000kB, limit 9007199254740988kB, failcnt 0\n"
        "[ 5.0] memory+swap: usage 131072kB, limit 131072kB, failcnt 17\n"
        "[ 5.0] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        "oom_memcg=/app,task_memcg=/app,task=app,pid=50,uid=0\n"
        "[ 5.0] Memory cgroup out of memory: Killed process 50 (app) total-vm:9kB, anon-rss:8kB, "
        "file-rss:0kB\n"
    )
    assert (event.limit_kb, event.usage_kb, event.failcnt) == (131072, 131072, 17)


def test_memory_limit_wins_over_memsw(shared_data: Path) -> None:
    lines = (shared_data / "kernel" / "memcg-v1-go-service-raw.txt").read_text().splitlines()
    [event] = parse_kernel_log(lines)
    assert (event.limit_kb, event.failcnt) == (65536, 59)  # not memory+swap's "no limit"


def test_table_rows_whose_pid_column_a_broken_stamp_ate() -> None:
    lines = (FIXTURES / "5.4-short-iso-memcg.log").read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if "[  44100]" in line)
    lines[row] = lines[row].replace("kernel: [  44100]", "kernel: [    0.000000] ")
    [event] = parse_kernel_log(lines)
    assert [(t.pid, t.tgid, t.rss_kb, t.name) for t in event.top_tasks] == [
        (44100, 44100, 32512 * 4, "payments")
    ]


def test_every_line_twice_is_still_one_kill(shared_data: Path) -> None:
    lines = (shared_data / "kernel" / "memcg-v1-pod-limit-two-containers-raw.txt").read_text()
    doubled = [line for line in lines.splitlines() for _ in range(2)]
    [event] = parse_kernel_log(doubled)
    assert (event.pid, event.limit_scope) == (25603, LimitScope.ANCESTOR)
    assert [t.pid for t in event.top_tasks] == [25603, 25531]


def test_two_real_kills_of_the_same_pid_stay_two() -> None:
    line = "[ 9.0] Out of memory: Killed process 5 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB"
    later = line.replace("[ 9.0]", "[ 19.0]").replace("anon-rss:1kB", "anon-rss:2kB")
    assert [e.anon_rss_kb for e in parse_kernel_log([line, later])] == [1, 2]
