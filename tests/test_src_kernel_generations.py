"""One synthetic report per kernel generation and per special case, built from the kernel's
format strings (see the shared reference notes), each with the numbers a user would check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from killproof.facts.kill import Cause, KillEvent, LimitScope
from killproof.sources.kernel import KernelOomParser, parse_kernel_log
from killproof.sources.logscan import Prefilter, available_prefilters, scan_path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernel"


def scan_file(path: Path, prefilter: Prefilter) -> list[KillEvent]:
    """Events of a file through the scanner (anchored lines plus context only)."""
    return list(scan_path(path, [KernelOomParser(str(path))], prefilter))


HERE = available_prefilters()
PREFILTERS = [
    pytest.param(
        p, id=p.value, marks=pytest.mark.skipif(p not in HERE, reason=f"{p.value} not installed")
    )
    for p in Prefilter
    if p is not Prefilter.AUTO
]


G, M = Cause.KERNEL_OOM_GLOBAL, Cause.KERNEL_OOM_MEMCG

# fixture → the events it must give, in order: only the fields listed are checked
EXPECTED: dict[str, list[dict[str, Any]]] = {
    "rhel6-2.6.32-global-sacrifice.log": [
        {
            "cause": G,
            "pid": 2305,
            "process": "java",
            "selected_pid": 2301,
            "invoker_pid": 2310,
            "anon_rss_kb": 1919876,
            "file_rss_kb": 132,
            "shmem_rss_kb": None,
            "total_vm_kb": 2084000,
            "oom_score_adj": 0,
            "limit_scope": LimitScope.HOST,
            "limit_kb": None,
            "host": "db-1",
            "time": "Mar  2 17:35:10",
            "evidence_lines": [1, 19, 20],
        },
    ],
    "rhel7-3.10-memcg.log": [
        {
            "cause": M,
            "pid": 8800,
            "process": "java",
            "selected_pid": 8800,
            "invoker_pid": 8812,
            "anon_rss_kb": 522096,
            "file_rss_kb": 1288,
            "shmem_rss_kb": 0,
            "limit_kb": 524288,
            "usage_kb": 524288,
            "failcnt": 1234,
            "oom_memcg": "/docker/abc123",
            "task_memcg": "/docker/abc123",
            "limit_scope": LimitScope.OWN,
            "oom_score_adj": 0,
            "uptime_s": 2858601.12115,
            "evidence_lines": [1, 13, 14, 21, 22],
        },
    ],
    "debian9-4.9-global-shmem.log": [
        {
            "cause": G,
            "pid": 1190,
            "process": "node",
            "invoker_pid": 1201,
            "shmem_rss_kb": 2048,
            "anon_rss_kb": 1501232,
            "limit_scope": LimitScope.HOST,
            "host": "web-3",
            "top": [(1190, 375820 * 4), (1180, 7034 * 4), (236, 722 * 4)],
            "top_names": ["node", "npm start", "systemd-journal"],
            "evidence_lines": [1, 16, 17, 18],
        },
    ],
    "k8s-4.14-task-in-pod-limit.log": [
        {
            "cause": M,
            "pid": 30390,
            "process": "npm start",
            "invoker_process": "npm start",
            "invoker_pid": 30412,
            "oom_memcg": "/kubepods/burstable/pod7f3e",
            "task_memcg": "/kubepods/burstable/pod7f3e/4d1c",
            "limit_scope": LimitScope.ANCESTOR,
            "limit_kb": 1048576,
            "failcnt": 87,
            "oom_score_adj": 968,
            "time": "Fri Nov 21 14:22:56 2025",
            "evidence_lines": [1, 10, 11, 21, 22, 23],
        },
    ],
    "4.19-iso-own-limit.log": [
        {
            "cause": M,
            "pid": 7700,
            "process": "worker",
            "invoker_pid": 7711,
            "limit_kb": 262144,
            "oom_memcg": "/system.slice/worker.service",
            "limit_scope": LimitScope.OWN,
            "oom_score_adj": -500,
            "epoch_s": 1714395341.67995,
            "time": "2024-04-29T14:55:41,679950+02:00",
            "top": [(7700, 65024 * 4)],
        },
    ],
    "5.4-short-iso-memcg.log": [
        {
            "cause": M,
            "pid": 44100,
            "process": "payments",
            "invoker_pid": 44120,
            "oom_score_adj": 999,
            "anon_rss_kb": 129500,
            "constraint": "CONSTRAINT_MEMCG",
            "limit_kb": 131072,
            "limit_scope": LimitScope.OWN,
            "host": "k8s-node-2",
            "epoch_s": 1715111034.0,
            "evidence_lines": [1, 7, 15, 16, 17],
        },
    ],
    "5.0-split-summary-global.log": [
        {
            "cause": G,
            "pid": 3310,
            "process": "stress-ng-vm",
            "task_memcg": "/user.slice",
            "constraint": "CONSTRAINT_NONE",
            "limit_scope": LimitScope.HOST,
            "oom_score_adj": 1000,
            "evidence_lines": [1, 7, 8, 9],
        },
    ],
    "6.1-two-kills-one-second.log": [
        {
            "cause": G,
            "pid": 4410,
            "invoker_pid": 4411,
            "limit_scope": LimitScope.HOST,
            "uptime_s": 518.05072,
            "top": [(4410, 990000 * 4), (4420, 900000 * 4), (4430, 12000 * 4)],
            "top_names": ["stress", "stress", "(resolved)"],
            "evidence_lines": [1, 10, 11, 21],
        },
        {
            "cause": G,
            "pid": 4420,
            "invoker_pid": 4421,
            "limit_scope": LimitScope.HOST,
            "uptime_s": 518.09122,
            "top": [(4420, 990000 * 4), (4430, 12000 * 4)],
            "evidence_lines": [12, 19, 20, 22],
        },
    ],
    "6.6-memcg-no-killable.log": [
        {
            "cause": M,
            "killed": False,
            "pid": None,
            "process": None,
            "invoker_pid": 6021,
            "limit_kb": 65536,
            "oom_memcg": "/batch.slice/worker.scope",
            "evidence_lines": [1, 3, 10],
        },
    ],
    "6.8-v2-caller-top-tasks.log": [
        {
            "cause": M,
            "pid": 90005,
            "invoker_pid": 90210,
            "limit_kb": 2097152,
            "failcnt": 0,
            "oom_memcg": "/system.slice/app.service",
            "limit_scope": LimitScope.OWN,
            "anon_rss_kb": 480012,
            "uptime_s": 9120.33125,
            "top": [
                (90005, 120005 * 4),
                (90003, 50003 * 4),
                (90002, 50002 * 4),
                (90004, 40004 * 4),
                (90006, 30006 * 4),
                (90007, 20007 * 4),
                (90008, 10008 * 4),
                (90009, 9009 * 4),
                (90010, 8010 * 4),
                (90011, 7011 * 4),
            ],
            "evidence_lines": [1, 7, 27, 28, 29, 33],
        },
        {
            "cause": M,
            "pid": 90001,
            "selected_pid": None,
            "anon_rss_kb": 16000,
            "file_rss_kb": 4000,
            "limit_scope": LimitScope.OWN,
            "task_memcg": "/system.slice/app.service",
            "evidence_lines": [1, 7, 27, 29, 30],
        },
        {"cause": M, "pid": 90002, "anon_rss_kb": 200000, "evidence_lines": [1, 7, 27, 29, 31]},
    ],
    "5.15-already-exiting.log": [],
}


def _check(event: KillEvent, want: dict[str, Any]) -> None:
    for key, value in want.items():
        if key == "evidence_lines":
            assert [e.line for e in event.evidence] == value, key
        elif key == "top":
            assert [(t.pid, t.rss_kb) for t in event.top_tasks] == value, key
        elif key == "top_names":
            assert [t.name for t in event.top_tasks] == value, key
        elif isinstance(value, float):
            assert getattr(event, key) == pytest.approx(value), key
        else:
            assert getattr(event, key) == value, key


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_every_line(name: str) -> None:
    path = FIXTURES / name
    events = parse_kernel_log(path.read_text().splitlines(), str(path))
    assert len(events) == len(EXPECTED[name])
    for event, want in zip(events, EXPECTED[name], strict=True):
        assert event.source == "kernel"
        _check(event, want)


@pytest.mark.parametrize("prefilter", PREFILTERS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_through_scanner_gives_the_same_events(name: str, prefilter: Prefilter) -> None:
    path = FIXTURES / name
    assert scan_file(path, prefilter) == parse_kernel_log(path.read_text().splitlines(), str(path))


def test_every_fixture_has_expectations() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.log")) == sorted(EXPECTED)


def test_victim_is_never_the_invoker_nor_a_table_row_only() -> None:
    for name in EXPECTED:
        path = FIXTURES / name
        for event in parse_kernel_log(path.read_text().splitlines(), str(path)):
            if event.pid is not None:
                assert any(
                    f"Killed process {event.pid} " in e.text
                    or f"Killed process {event.pid}," in e.text
                    for e in event.evidence
                ), name
