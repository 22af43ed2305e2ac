"""What a new user trips over in ``why`` (issue 16): on a live machine every kill was listed
oldest first in raw seconds since boot, ``--pid``/``--cgroup`` said nothing unless a kill
was counted, inputs were not said to be recognised, and counts read ``1 kill(s)``.

Each test fails on the behaviour before the fix.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import REPO
from killproof.cli import main
from killproof.report import OutputFormat, RenderOptions, render
from killproof.rules import catalog
from killproof.why.clocktime import WallClock, ago, read_boot_time
from killproof.why.run import LiveOptions, explain_kills

EVIDENCE = REPO / "tests" / "fixtures" / "evidence"
MIB = 1 << 20


def kernel_kill(uptime_s: float, pid: int, name: str, memcg: str) -> str:
    """The first and the last two lines of a memory cgroup kill as a raw ``dmesg`` prints
    them."""
    stamp = f"[{uptime_s:12.6f}]"
    return (
        f"{stamp} {name} invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, "
        "oom_score_adj=0\n"
        f"{stamp} oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        f"oom_memcg={memcg},task_memcg={memcg},task={name},pid={pid},uid=0\n"
        f"{stamp} Memory cgroup out of memory: Killed process {pid} ({name}) total-vm:900000kB, "
        "anon-rss:65000kB, file-rss:6000kB, shmem-rss:0kB, UID:0 pgtables:200kB oom_score_adj:0\n"
    )


# Three kills in one boot: pid 300 is the newest, 19:41:02 UTC, 12 minutes before "now".
NEWEST = datetime(2026, 12, 7, 19, 41, 2, tzinfo=UTC).timestamp()
BOOT = NEWEST - 9097.0
LOG = (
    kernel_kill(1584.5, 100, "orders", "/orders")
    + kernel_kill(5000.25, 200, "orders", "/orders")
    + kernel_kill(9097.0, 300, "billing", "/billing")
)
CLOCK = WallClock(now_s=NEWEST + 12 * 60, boot_s=BOOT, tz=UTC)


def _text(report: object) -> str:
    options = RenderOptions(rules=catalog(), tool_version="0.0.0-test")
    return render(report, OutputFormat.TEXT, options)  # type: ignore[arg-type]


def _live(log: str, clock: WallClock = CLOCK) -> tuple[object, str]:
    live = LiveOptions(kernel_log=lambda: ("dmesg", log.encode()))
    report = explain_kills([], None, live=live, clock=clock)
    return report, _text(report)


# -- 1. why on a live machine ---------------------------------------------------------------


def test_live_kills_are_newest_first_with_clock_times_and_how_long_ago() -> None:
    report, text = _live(LOG)
    rows = next(t for t in report.tables if t.title.startswith("Kills")).rows  # type: ignore[attr-defined]
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("2026-12-07 19:41:02 (12 min ago)", "300", "billing"),
        ("2026-12-07 18:32:45 (1 h ago)", "200", "orders"),
        ("2026-12-07 17:35:49 (2 h ago)", "100", "orders"),
    ]
    assert text.startswith("3 kills, the newest: billing (pid 300) OOM-killed")
    # The short table comes first, then one detail per kill, newest first, with its time.
    details = re.findall(r"^dmesg:\d+ \(pid (\d+) \w+, ([^)]*)\): error KP701", text, re.M)
    assert details == [
        ("300", "2026-12-07 19:41:02, 12 min ago"),
        ("200", "2026-12-07 18:32:45, 1 h ago"),
        ("100", "2026-12-07 17:35:49, 2 h ago"),
    ]
    assert text.index("Kills, newest first") < text.index("error KP701")
    assert "9097.000000 " not in text.split("error KP701")[0]  # no raw uptime in the table


def test_the_same_fix_is_said_once_after_the_first_kill_it_applies_to() -> None:
    _, text = _live(LOG)
    fixes = [line for line in text.splitlines() if line.startswith("    fix: ")]
    assert len(fixes) == len(set(fixes)) == 1
    first_detail = text.index("(pid 300 billing")
    assert first_detail < text.index(fixes[0]) < text.index("(pid 200 orders")


def test_the_json_lists_events_newest_first_with_their_clock_time() -> None:
    report, _ = _live(LOG)
    events = report.sections["events"]  # type: ignore[attr-defined]
    assert [(e["pid"], e["epoch_s"]) for e in events] == [
        (300, NEWEST),
        (200, BOOT + 5000.25),
        (100, BOOT + 1584.5),
    ]


def test_without_a_boot_time_the_kernel_stamp_is_shown_as_printed() -> None:
    _, text = _live(LOG, WallClock(now_s=NEWEST, boot_s=None))
    assert "│ 9097.000000 │" in text and "ago" not in text
    # Still newest first: one machine's seconds since boot compare.
    assert text.index("(pid 300 billing") < text.index("(pid 100 orders")


def test_boot_time_is_btime_of_proc_stat(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("cpu  1 2 3 4\nintr 5\nctxt 9\nbtime 1796676675\nprocesses 7\n")
    assert read_boot_time(tmp_path) == 1796676675.0
    (tmp_path / "stat").write_text("cpu  1 2 3 4\n")
    assert read_boot_time(tmp_path) is None
    assert read_boot_time(tmp_path / "missing") is None
    real = read_boot_time()
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert real is not None and abs(real + uptime - time.time()) < 5


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (2, "just now"),
        (40, "40 s ago"),
        (12 * 60 + 59, "12 min ago"),
        (3 * 3600 + 1, "3 h ago"),
        (86400, "1 day ago"),
        (9 * 86400 + 5, "9 days ago"),
        (-3600, "in the future"),
    ],
)
def test_how_long_ago_reads_like_a_person(seconds: float, said: str) -> None:
    assert ago(seconds) == said


def test_why_with_no_input_reads_this_machine_newest_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The real kernel log of this machine, through the CLI."""
    dmesg = subprocess.run(["dmesg"], capture_output=True, text=True, check=False)
    if dmesg.returncode != 0:
        pytest.skip("dmesg cannot be read here (needs root)")
    killed = re.findall(r"^\[\s*([\d.]+)\][^\n]*Killed process (\d+)", dmesg.stdout, re.M)
    if len(killed) < 2:
        pytest.skip("fewer than two kills in this machine's kernel log")
    assert main(["why", "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    pids = [e["pid"] for e in out["events"] if e["source"] == "kernel" and e["pid"]]
    by_time = sorted(((float(t), int(p)) for t, p in killed), reverse=True)
    assert pids[:2] == [p for _, p in by_time[:2]]
    assert (out["inputs"][0]["input"], out["inputs"][0]["recognised_as"]) == (
        "dmesg",
        "kernel log",
    )
    assert main(["why"]) == 1
    text = capsys.readouterr().out
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+ (s|min|h|days?) ago)\)"
    assert re.search(rf"│ {stamp} +│ KERNEL_OOM", text), text[:2000]


# -- 2. --pid and --cgroup show the live counters -------------------------------------------

V1 = Path("/sys/fs/cgroup/memory")


@pytest.fixture
def v1_cgroup() -> Iterator[tuple[Path, int]]:
    """A real v1 memory cgroup with a 48 MiB limit and a sleeping process in it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a memory cgroup")
    if not ((V1 / "memory.limit_in_bytes").exists() and os.access(V1, os.W_OK)):
        pytest.skip("no writable cgroup v1 memory controller here (the v2 case uses a fake tree)")
    path = V1 / f"killproof-why-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    proc = None
    try:
        (path / "memory.limit_in_bytes").write_text(str(48 * MIB))
        join = 'echo $$ > "$0" && exec "$@"'
        proc = subprocess.Popen(["sh", "-c", join, str(path / "cgroup.procs"), "sleep", "60"])
        deadline = time.monotonic() + 10
        while str(proc.pid) not in (path / "cgroup.procs").read_text().split():
            assert time.monotonic() < deadline, "the process never joined its cgroup"
            time.sleep(0.02)
        yield path, proc.pid
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + 10
        while path.exists():
            try:
                path.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


@pytest.mark.root
def test_pid_shows_its_v1_cgroup_counters_when_nothing_was_killed(
    v1_cgroup: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    path, pid = v1_cgroup
    assert main(["why", "--pid", str(pid), "--no-live", "--format", "json"]) == 0
    counters = json.loads(capsys.readouterr().out)["cgroup"]
    assert (counters["path"], counters["hierarchy_path"]) == (str(path), f"/{path.name}")
    assert (counters["version"], counters["limit_bytes"]) == ("v1", 48 * MIB)
    assert (counters["limit_hits"], counters["oom_kill"], counters["under_oom"]) == (0, 0, False)
    assert counters["usage_bytes"] > 0  # a sleeping shell's pages are charged to it
    assert main(["why", "--pid", str(pid), "--no-live"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"No kill found; memory cgroup /{path.name} uses ")
    assert "of its 48.0 MiB limit, oom_kill 0." in text.splitlines()[0]
    for row in ("│ limit ", "│ 48.0 MiB", "│ failcnt ", "│ oom_kill ", "│ under_oom "):
        assert row in text, row
    assert re.search(rf"│ memory cgroup of pid {pid} +│ memory cgroup counters +│ 0 +│", text)


@pytest.mark.root
def test_cgroup_path_shows_the_same_v1_counters(
    v1_cgroup: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = v1_cgroup
    assert main(["why", "--cgroup", str(path), "--no-live", "--format", "json"]) == 0
    counters = json.loads(capsys.readouterr().out)["cgroup"]
    assert (counters["path"], counters["limit_bytes"], counters["oom_kill"]) == (
        str(path),
        48 * MIB,
        0,
    )


@pytest.mark.root
def test_pid_keeps_only_the_kernel_kills_in_its_own_cgroup(v1_cgroup: tuple[Path, int]) -> None:
    path, pid = v1_cgroup
    ours, other = f"/{path.name}", "/someone-else"
    log = kernel_kill(50.0, 11, "orders", ours) + kernel_kill(60.0, 22, "billing", other)
    log += kernel_kill(70.0, 33, "worker", f"{ours}/child")
    live = LiveOptions(pid=pid, kernel_log=lambda: ("dmesg", log.encode()))
    report = explain_kills([], None, live=live, clock=CLOCK)
    assert [e["pid"] for e in report.sections["events"]] == [33, 11]
    assert [(i["input"], i["observations"]) for i in report.sections["inputs"]] == [
        (f"dmesg (kills in {ours} only)", 2),
        (f"memory cgroup of pid {pid}", 0),
    ]
    assert report.sections["cgroup"]["limit_bytes"] == 48 * MIB


def fake_v2(root: Path, events: str) -> Path:
    """A cgroup v2 directory as sysfs shows it: 64 MiB limit, 12 MiB in use, 60 MiB peak."""
    root.mkdir()
    (root / "memory.max").write_text(f"{64 * MIB}\n")
    (root / "memory.current").write_text(f"{12 * MIB}\n")
    (root / "memory.peak").write_text(f"{60 * MIB}\n")
    (root / "memory.events").write_text(events)
    return root


def test_cgroup_shows_v2_counters_when_nothing_was_killed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cg = fake_v2(tmp_path / "api", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
    assert main(["why", "--cgroup", str(cg), "--no-live"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == (
        f"No kill found; memory cgroup {cg} uses 12.0 MiB of its 64.0 MiB limit, oom_kill 0."
    )
    for key, value in (
        ("usage", "12.0 MiB (18 % of the limit)"),
        ("peak usage", "60.0 MiB"),
        ("limit", "64.0 MiB"),
        ("memory.events max", "0"),
        ("memory.events oom", "0"),
        ("memory.events oom_kill", "0"),
    ):
        assert re.search(rf"│ {re.escape(key)} +│ {re.escape(value)} +│", text), key


def test_cgroup_v2_with_a_kill_shows_its_counters_and_the_kill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cg = fake_v2(tmp_path / "api", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n")
    assert main(["why", "--cgroup", str(cg), "--no-live", "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["cgroup"]["limit_hits"], out["cgroup"]["oom"], out["cgroup"]["oom_kill"]) == (
        7,
        2,
        2,
    )
    [finding] = out["findings"]
    assert finding["rule"] == "KP701"
    assert "killed 2 processes in this cgroup" in out["events"][0]["message"]


# -- 3. each input with what it was recognised as -------------------------------------------


def test_each_input_says_what_it_was_recognised_as(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kern = tmp_path / "kern.log"
    kern.write_text(kernel_kill(10.0, 4242, "orders", "/orders"))
    record = {
        "__REALTIME_TIMESTAMP": "1796700000000000",
        "SYSLOG_IDENTIFIER": "kernel",
        "MESSAGE": kernel_kill(20.0, 5151, "billing", "/billing").splitlines()[1][15:],
    }
    journal = tmp_path / "kernel.json"
    journal.write_text(json.dumps(record) + "\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("deployed v2 at noon\nall fine\n")
    odd = tmp_path / "odd.log"
    odd.write_text("12:00:09 reaperd: worker 77 oom-killed by policy hard-limit\n")
    describe = EVIDENCE / "describe-pod-oomkilled.txt"
    argv = [str(kern), str(journal), str(describe), str(notes), str(odd)]
    assert main(["why", *argv, "--format", "json"]) == 1
    got = {i["input"]: i["recognised_as"] for i in json.loads(capsys.readouterr().out)["inputs"]}
    assert got == {
        str(kern): "kernel log",
        str(journal): "journal JSON: kernel log",
        str(describe): "kubectl describe pod",
        str(notes): "nothing recognised as kill evidence",
        str(odd): "nothing recognised; 1 line looks like kill evidence (listed below)",
    }
    assert main(["why", *argv]) == 1
    text = capsys.readouterr().out
    assert re.search(
        rf"│ {re.escape(str(notes))} +│ nothing recognised as kill evidence +│ 0 ", text
    )


def test_an_input_with_nothing_recognised_says_so_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("deployed v2 at noon\n")
    assert main(["why", str(notes)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("No kill found in the evidence.")
    assert re.search(rf"│ {re.escape(str(notes))} +│ nothing recognised as kill evidence", text)


# -- 4. plurals ------------------------------------------------------------------------------


def test_counts_in_why_are_singular_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kern = tmp_path / "kern.log"
    kern.write_text(kernel_kill(10.0, 4242, "orders", "/orders"))
    main(["why", str(kern)])
    assert capsys.readouterr().out.startswith("1 kill: orders (pid 4242) OOM-killed")
    odd = tmp_path / "odd.log"
    odd.write_text("12:00:09 reaperd: worker 77 oom-killed by policy hard-limit\n")
    main(["why", str(odd)])
    text = capsys.readouterr().out
    assert text.startswith(
        "No kill understood, but 1 line looks like kill evidence (listed below): read it yourself."
    )
    assert "1 line looks like kill evidence but was not understood" in text


def test_no_renderer_output_of_why_check_or_drill_says_s_in_brackets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The goldens are the text and Markdown renderers' output for why, check and drill;
    and a why of every evidence fixture, in both."""
    goldens = [*REPO.glob("tests/golden/*.text"), *REPO.glob("tests/golden/*.markdown")]
    assert {p.name.split("-")[0] for p in goldens} >= {"why", "check", "drill", "plan"}
    for path in goldens:
        assert not re.search(r"\w\((s|es)\)", path.read_text()), path.name
    for fmt in ("text", "markdown"):
        main(["why", *map(str, sorted(EVIDENCE.iterdir())), "--format", fmt])
        said = _not_quoted(capsys.readouterr().out)
        assert "kill" in said and not re.search(r"\w\((s|es)\)", said), fmt


def _not_quoted(out: str) -> str:
    """A report without the log lines it quotes (a log may say "process(es)" itself)."""
    kept, fenced = [], False
    for line in out.splitlines():
        if line.strip() == "```":
            fenced = not fenced
        elif not fenced and not line.startswith("    | "):
            kept.append(line)
    return "\n".join(kept)
