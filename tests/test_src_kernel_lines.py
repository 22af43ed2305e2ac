"""Line recognisers of the kernel OOM report: every format variant, and garbage never raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.sources import kernel_lines as kl


@pytest.mark.parametrize(
    ("line", "pid", "comm", "prefix", "uid", "anon", "file", "shmem", "adj"),
    [
        (
            "Killed process 2305, UID 500, (java) total-vm:2084000kB, anon-rss:1919876kB, "
            "file-rss:132kB",
            2305,
            "java",
            "",
            500,
            1919876,
            132,
            None,
            None,
        ),
        (
            "Killed process 8800 (java), UID 1000, total-vm:2345676kB, anon-rss:522096kB, "
            "file-rss:1288kB, shmem-rss:0kB",
            8800,
            "java",
            "",
            1000,
            522096,
            1288,
            0,
            None,
        ),
        (
            "Killed process 3001 (mysqld) total-vm:5000kB, anon-rss:4000kB, file-rss:12kB",
            3001,
            "mysqld",
            "",
            None,
            4000,
            12,
            None,
            None,
        ),
        (
            "Out of memory: Killed process 77 (npm start) total-vm:10kB, anon-rss:9kB, "
            "file-rss:1kB, shmem-rss:2kB",
            77,
            "npm start",
            "Out of memory",
            None,
            9,
            1,
            2,
            None,
        ),
        (
            "Memory cgroup out of memory: Killed process 42 ((resolved)) total-vm:1kB, "
            "anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:101 pgtables:44kB oom_score_adj:-17",
            42,
            "(resolved)",
            "Memory cgroup out of memory",
            101,
            2,
            3,
            4,
            -17,
        ),
        (
            "Out of memory (oom_kill_allocating_task): Killed process 9 (a b) c) total-vm:1kB, "
            "anon-rss:2kB, anon-rss-low:7kB, file-rss:3kB",
            9,
            "a b) c",
            "Out of memory (oom_kill_allocating_task)",
            None,
            2,
            3,
            None,
            None,
        ),
        (
            "Out of Memory: Killed process 12 (httpd).",
            12,
            "httpd",
            "Out of Memory",
            None,
            None,
            None,
            None,
            None,
        ),
    ],
)
def test_killed_variants(
    line: str,
    pid: int,
    comm: str,
    prefix: str,
    uid: int | None,
    anon: int | None,
    file: int | None,
    shmem: int | None,
    adj: int | None,
) -> None:
    got = kl.killed(line)
    assert got is not None
    assert (got.pid, got.comm, got.prefix, got.uid) == (pid, comm, prefix, uid)
    assert (got.value("anon-rss"), got.value("file-rss"), got.value("shmem-rss")) == (
        anon,
        file,
        shmem,
    )
    assert got.value("oom_score_adj") == adj
    assert got.complete


def test_killed_line_cut_by_a_paste_is_marked_incomplete() -> None:
    got = kl.killed("Killed process 5 (x) total-vm:100kB, anon-rss:44")
    assert got is not None and not got.complete


def test_selected_is_only_the_candidate() -> None:
    sel = kl.selected(
        "Memory cgroup out of memory: Kill process 24984 (java) score 999 or sacrifice child"
    )
    assert sel is not None
    assert (sel.pid, sel.comm, sel.prefix) == (24984, "java", "Memory cgroup out of memory")
    old = kl.selected("Out of Memory: Kill process 12 (httpd) score 37 and children.")
    assert old is not None and old.pid == 12
    assert kl.selected("Killed process 1 (x) total-vm:1kB") is None


def test_summary_keys_and_split_halves() -> None:
    full = kl.summary(
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        "oom_memcg=/kubepods/pod-demo,task_memcg=/kubepods/pod-demo/app,task=python3,pid=25603,uid=0"
    )
    assert full == kl.Summary(
        "CONSTRAINT_MEMCG",
        "/kubepods/pod-demo",
        "/kubepods/pod-demo/app",
        False,
        "python3",
        25603,
        0,
    )
    first = kl.summary(
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0"
    )
    assert first is not None and first.pid is None and first.constraint == "CONSTRAINT_NONE"
    second = kl.summary(",global_oom,task_memcg=/,task=stress,pid=999,uid=0")
    assert second is not None
    assert (second.global_oom, second.task_memcg, second.pid) == (True, "/", 999)
    odd = kl.summary(
        "oom-kill:constraint=CONSTRAINT_NONE,global_oom,task_memcg=/a,task=x,y,pid=7,uid=0"
    )
    assert odd is not None and (odd.task, odd.pid) == ("x,y", 7)


def test_usage_no_limit_is_none() -> None:
    assert kl.usage("memory: usage 65536kB, limit 65536kB, failcnt 59") == kl.Usage(
        65536, 65536, 59
    )
    assert kl.usage("memory: usage 10kB, limit 9007199254740988kB, failcnt 0") == kl.Usage(
        10, None, 0
    )
    assert kl.usage("memory+swap: usage 65536kB, limit 9007199254740988kB, failcnt 0") is None


def test_invoker_forms() -> None:
    assert kl.invoker(
        "CPU: 1 UID: 0 PID: 24653 Comm: orders-leak Not tainted 6.18.44 #1"
    ) == kl.Invoker(24653, "orders-leak")
    assert kl.invoker("CPU: 3 PID: 8812 Comm: java Kdump: loaded Tainted: G  T 3.10.0") is not None
    assert kl.invoker("Pid: 2310, comm: java Not tainted 2.6.32-754.el6.x86_64 #1") == kl.Invoker(
        2310, "java"
    )


@pytest.mark.parametrize(
    ("header", "row", "rss_pages", "total_vm_pages", "adj", "name"),
    [
        (
            "[ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name",
            "[  512]     0   512     2731      110   1     -17         -1000 udevd",
            110,
            2731,
            -1000,
            "udevd",
        ),
        (
            "[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name",
            "[ 8800]  1000  8800   586419   130846     312        0             0 java",
            130846,
            586419,
            0,
            "java",
        ),
        (
            "[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name",
            "[ 1180]  1000  1180   159380     7034      90       4        0             0 "
            "npm start",
            7034,
            159380,
            0,
            "npm start",
        ),
        (
            "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
            "[   7700]   998  7700   120000    65024   618496        0          -500 worker",
            65024,
            120000,
            -500,
            "worker",
        ),
        (
            "[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes "
            "swapents oom_score_adj name",
            "[  24649]     0 24649   425401    17795    16224     1571         0   290816        0"
            "             0 orders-leak",
            17795,
            425401,
            0,
            "orders-leak",
        ),
    ],
)
def test_table_layouts(
    header: str, row: str, rss_pages: int, total_vm_pages: int, adj: int, name: str
) -> None:
    columns = kl.table_columns(header)
    assert columns is not None
    for cols in (columns, None):  # with the header, and guessed when the header was lost
        got = kl.table_row(row, cols)
        assert got is not None
        assert (got.rss_pages, got.total_vm_pages, got.oom_score_adj, got.name) == (
            rss_pages,
            total_vm_pages,
            adj,
            name,
        )


def test_reaper_forms() -> None:
    assert kl.reaped(
        "oom_reaper: reaped process 1190 (node), now anon-rss:0kB, file-rss:0kB, shmem-rss:2048kB"
    ) == kl.Reaped(1190, "node")
    assert kl.reaped("oom_reaper: unable to reap pid:77 (java)") == kl.Reaped(77, "java")


def test_memcg_paths() -> None:
    assert kl.task_in(
        "Task in /kubepods/burstable/pod7f3e/4d1c killed as a result of limit of "
        "/kubepods/burstable/pod7f3e"
    ) == kl.TaskIn("/kubepods/burstable/pod7f3e/4d1c", "/kubepods/burstable/pod7f3e")
    assert kl.stats_for("Memory cgroup stats for /orders:") == "/orders"
    assert kl.group("Tasks in /a/b are going to be killed due to memory.oom.group set") == "/a/b"


RECOGNISERS = (
    kl.header,
    kl.invoker,
    kl.killed,
    kl.selected,
    kl.summary,
    kl.usage,
    kl.task_in,
    kl.stats_for,
    kl.group,
    kl.reaped,
    kl.table_columns,
)
KERNEL_WORDS = st.sampled_from(
    [
        "Killed process ",
        "Kill process ",
        "oom-kill:",
        "invoked oom-killer:",
        "memory: usage ",
        "Task in ",
        "oom_reaper: reaped process ",
        "[",
        "]",
        "(",
        ")",
        ",",
        ":",
        "kB",
        " ",
        "UID ",
        "pid=",
        "task=",
        "oom_memcg=",
        "-",
        "9007199254740988",
        "99999999999999999999",
        "score ",
        " or sacrifice child",
        "memory.oom.group",
        "\x00",
        "é",
        "\t",
    ]
)
LINES = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(KERNEL_WORDS, st.integers(-(10**30), 10**30).map(str)), max_size=30).map(
        "".join
    ),
)


@settings(deadline=None)  # CI shares its cores: time is not what is tested
@given(LINES)
def test_recognisers_never_raise(line: str) -> None:
    for recognise in RECOGNISERS:
        recognise(line)
    columns = kl.table_columns(
        "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name"
    )
    kl.table_row(line, columns)
    kl.table_row(line, None)
    kl.table_row("[ 1]" + line, None)


@settings(deadline=None)  # CI shares its cores: time is not what is tested
@given(st.integers(0, 2**31), st.text(min_size=1, max_size=15).filter(lambda s: "\n" not in s))
def test_killed_round_trips_any_comm(pid: int, comm: str) -> None:
    line = f"Out of memory: Killed process {pid} ({comm}) total-vm:10kB, anon-rss:5kB, file-rss:1kB"
    got = kl.killed(line)
    assert got is not None
    assert (got.pid, got.comm, got.value("anon-rss")) == (pid, comm, 5)
