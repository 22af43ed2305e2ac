"""``killproof why`` end to end through the CLI: real kernel output, every format, bad input."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from killproof.cli import main

KERNEL = "kernel/memcg-v1-go-service-raw.txt"
KERNEL_T = "kernel/memcg-v1-go-service-dmesg-T.txt"
POD_LIMIT = "kernel/memcg-v1-pod-limit-two-containers-raw.txt"
REPO = Path(__file__).resolve().parent.parent


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(["why", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_go_service_oom_names_the_victim_not_the_invoking_thread(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_json(capsys, str(shared_data / KERNEL))
    assert code == 1  # a kill is an error-level finding
    [event] = out["events"]
    assert event["cause"] == "KERNEL_OOM_MEMCG"
    assert (event["pid"], event["process"]) == (24649, "orders-leak")
    assert event["invoker_pid"] == 24653
    assert (event["anon_rss_kb"], event["file_rss_kb"], event["limit_kb"]) == (64896, 6284, 65536)
    assert (event["oom_memcg"], event["task_memcg"], event["limit_scope"]) == (
        "/orders",
        "/orders",
        "own",
    )
    assert out["findings"][0]["rule"] == "KP701"
    assert "orders-leak (pid 24649)" in event["explanation"]


def test_raw_and_dmesg_t_copies_of_one_kill_are_one_event(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = run_json(capsys, str(shared_data / KERNEL), str(shared_data / KERNEL_T))
    [event] = out["events"]
    assert event["pid"] == 24649
    assert {e["path"] for e in event["evidence"]} == {
        str(shared_data / KERNEL),
        str(shared_data / KERNEL_T),
    }


def test_pod_limit_not_container_limit(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = run_json(capsys, str(shared_data / POD_LIMIT))
    [event] = out["events"]
    assert (event["pid"], event["process"], event["oom_score_adj"]) == (25603, "python3", 900)
    assert event["anon_rss_kb"] == 49792
    assert event["oom_memcg"] == "/kubepods/pod-demo"
    assert event["task_memcg"] == "/kubepods/pod-demo/app"
    assert event["limit_scope"] == "ancestor"
    assert "the pod's limit, not the container's" in event["explanation"]


def test_stdin_and_exit_code_merge_with_the_kernel_record(
    shared_data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    data = (shared_data / KERNEL).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    _, out = run_json(capsys, "-", "--exit-code", "137")
    [event] = out["events"]
    assert event["pid"] == 24649 and event["exit_code"] == 137


def test_gzip_compressed_log_is_read_through(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packed = tmp_path / "kern.log.1.gz"
    packed.write_bytes(gzip.compress((shared_data / KERNEL).read_bytes()))
    _, out = run_json(capsys, str(packed))
    assert [e["pid"] for e in out["events"]] == [24649]


def test_no_kill_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "quiet.log"
    log.write_text("[    1.000000] Linux version 6.18\n[    2.0] eth0: link up\n")
    code, out = run_json(capsys, str(log))
    assert code == 0 and out["events"] == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary file"),
        (gzip.compress(b"hello")[:12], "corrupt compressed file"),
        (b'{"apiVersion": "v1", "kind": "Pod", "status": {', "line 1"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    assert main(["why", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and expected in err
    assert "Traceback" not in err


def test_unreadable_path_and_unknown_flag_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.log"
    assert main(["why", str(missing)]) == 2
    assert f"{missing}: cannot read" in capsys.readouterr().err
    assert main(["why", "--no-such-flag"]) == 2
    assert "no-such-flag" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "markdown"])
def test_formats_match_goldens(
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    golden: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    # A copy under a stable relative name, so golden files do not embed tmp paths.
    monkeypatch.chdir(REPO)
    local = Path("tests/fixtures/why/orders-oom.log")
    assert local.read_bytes() == (shared_data / KERNEL).read_bytes()
    main(["why", str(local), "--format", fmt])
    out = capsys.readouterr().out
    golden(f"why-orders-oom.{fmt}", out)


@pytest.mark.parametrize("packer", ["xz", "bz2"])
def test_xz_and_bzip2_rotated_logs_are_read_through(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], packer: str
) -> None:
    import bz2
    import lzma

    raw = (shared_data / KERNEL).read_bytes()
    packed = tmp_path / f"kern.log.1.{packer}"
    packed.write_bytes(lzma.compress(raw) if packer == "xz" else bz2.compress(raw))
    _, out = run_json(capsys, str(packed))
    assert [e["pid"] for e in out["events"]] == [24649]


def test_among_several_inputs_an_unusable_one_is_skipped_with_its_reason(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "core.bin"
    binary.write_bytes(b"\x7fELF\x00\x00")
    code, out = run_json(capsys, str(binary), str(shared_data / KERNEL))
    assert code == 1
    assert [e["pid"] for e in out["events"]] == [24649]
    assert out["skipped"] == [
        {
            "what": str(binary),
            "reason": "binary file, not a log or a Kubernetes document: an executable",
        }
    ]


def test_a_kill_whose_report_lost_its_head_still_reads_well(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # dmesg's ring buffer wrapped: only the victim line of the report is left.
    log = tmp_path / "dmesg.txt"
    log.write_text(
        "[ 5216.896762] Memory cgroup out of memory: Killed process 16127 (orders) "
        "total-vm:1333696kB, anon-rss:64896kB, file-rss:6640kB, shmem-rss:0kB, UID:0 "
        "pgtables:232kB oom_score_adj:0\n"
    )
    _, out = run_json(capsys, str(log))
    [event] = out["events"]
    assert event["cause"] == "KERNEL_OOM_MEMCG" and event["pid"] == 16127
    assert event["headline"] == "orders (pid 16127) OOM-killed at a memory cgroup's limit"
