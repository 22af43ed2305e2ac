"""The real kernel OOM logs in ../shared/data/kernel, against the truths in its README."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.facts.kill import Cause, KillEvent, LimitScope
from killproof.sources.kernel import KernelOomParser, parse_kernel_log
from killproof.sources.logscan import Prefilter, available_prefilters, scan_path


def scan_file(path: Path, prefilter: Prefilter) -> list[KillEvent]:
    """Events of a file through the scanner (anchored lines plus context only)."""
    return list(scan_path(path, [KernelOomParser(str(path))], prefilter))


HERE = available_prefilters()


GO_SERVICE = ("memcg-v1-go-service-raw.txt", "memcg-v1-go-service-dmesg-T.txt")
READERS = ("feed-every-line", *(f"scan-{p.value}" for p in HERE))


def _events(path: Path, reader: str) -> list[KillEvent]:
    if reader == "feed-every-line":
        return parse_kernel_log(path.read_text().splitlines(), str(path))
    return scan_file(path, Prefilter(reader.removeprefix("scan-")))


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", GO_SERVICE)
def test_go_service_victim_is_the_tgid_not_the_invoking_thread(
    shared_data: Path, name: str, reader: str
) -> None:
    path = shared_data / "kernel" / name
    [event] = _events(path, reader)
    assert event.killed
    assert event.cause is Cause.KERNEL_OOM_MEMCG
    assert event.constraint == "CONSTRAINT_MEMCG"
    assert (event.pid, event.process) == (24649, "orders-leak")
    assert (event.invoker_pid, event.invoker_process) == (24653, "orders-leak")
    assert event.anon_rss_kb == 64896
    assert event.file_rss_kb == 6284
    assert event.shmem_rss_kb == 0
    assert event.total_vm_kb == 1701604
    assert event.oom_score_adj == 0
    assert (event.limit_kb, event.usage_kb, event.failcnt) == (65536, 65536, 59)
    assert event.oom_memcg == event.task_memcg == "/orders"
    assert event.limit_scope is LimitScope.OWN
    assert event.selected_pid is None
    # the task table is in pages: 17795 pages × 4 kB
    assert [(t.pid, t.name, t.rss_kb, t.total_vm_kb, t.uid, t.tgid) for t in event.top_tasks] == [
        (24649, "orders-leak", 17795 * 4, 425401 * 4, 0, 24649)
    ]
    # header, memory: usage, oom-kill:, Killed process
    assert [e.line for e in event.evidence] == [1, 30, 79, 80]
    assert all(e.path == str(path) for e in event.evidence)
    assert "Killed process 24649 (orders-leak)" in event.evidence[-1].text


def test_go_service_times_from_each_wrapper(shared_data: Path) -> None:
    [raw] = parse_kernel_log((shared_data / "kernel" / GO_SERVICE[0]).read_text().splitlines())
    [wall] = parse_kernel_log((shared_data / "kernel" / GO_SERVICE[1]).read_text().splitlines())
    assert raw.uptime_s == pytest.approx(1584.623978)
    assert raw.time == "1584.623978"
    assert wall.time == "Thu Nov 26 15:48:44 2026"
    assert wall.uptime_s is None
    assert wall.epoch_s is None  # dmesg -T prints local time without a zone


@pytest.mark.parametrize("reader", READERS)
def test_pod_limit_is_the_ancestor_not_the_container(shared_data: Path, reader: str) -> None:
    path = shared_data / "kernel" / "memcg-v1-pod-limit-two-containers-raw.txt"
    [event] = _events(path, reader)
    assert event.cause is Cause.KERNEL_OOM_MEMCG
    assert (event.pid, event.process) == (25603, "python3")
    assert event.oom_score_adj == 900
    assert event.anon_rss_kb == 49792
    assert event.file_rss_kb == 5712
    assert event.oom_memcg == "/kubepods/pod-demo"
    assert event.task_memcg == "/kubepods/pod-demo/app"
    assert event.limit_scope is LimitScope.ANCESTOR
    assert event.limit_kb == 98304  # 96M, the pod's
    assert [t.pid for t in event.top_tasks] == [25603, 25531]
    assert [t.rss_kb for t in event.top_tasks] == [13876 * 4, 13377 * 4]
    assert [t.oom_score_adj for t in event.top_tasks] == [900, 0]


@pytest.mark.parametrize("reader", READERS)
def test_two_reports_back_to_back_stay_two_events(
    shared_data: Path, tmp_path: Path, reader: str
) -> None:
    kernel = shared_data / "kernel"
    joined = tmp_path / "both.log"
    joined.write_text(
        (kernel / GO_SERVICE[0]).read_text()
        + (kernel / "memcg-v1-pod-limit-two-containers-raw.txt").read_text()
    )
    events = _events(joined, reader)
    assert [(e.pid, e.limit_scope) for e in events] == [
        (24649, LimitScope.OWN),
        (25603, LimitScope.ANCESTOR),
    ]
    assert [e.line for e in events[1].evidence] == [81, 109, 159, 160]
    assert events[0].top_tasks != events[1].top_tasks
