"""Never silent: kill-like lines no parser understood are reported (issue 10), with the
exit status of what was understood. Inputs are invented formats no parser knows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from killproof.cli import main
from killproof.sources.killwords import MAX_CANDIDATES, looks_like_kill
from killproof.why.run import explain_kills

KERNEL_KILL = (
    "[ 10.000000] Out of memory: Killed process 4242 (orders) total-vm:10kB, anon-rss:8kB, "
    "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n"
)


def _json(capsys: object, *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["why", "--format", "json", *argv])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    return code, json.loads(out)


def test_unknown_kill_lines_are_listed_and_no_kill_found_is_not_said(
    tmp_path: Path, capsys: object
) -> None:
    log = tmp_path / "agent.log"
    log.write_text(
        "12:00:01 supervisor: started worker\n"
        "12:00:09 reaperd: worker 77 oom-killed by policy hard-limit\n"
        "12:00:10 supervisor: child exited with code 137\n"
    )
    code, out = _json(capsys, str(log))
    assert out["events"] == []
    assert out["unrecognized"] == [
        {
            "path": str(log),
            "line": 2,
            "text": "12:00:09 reaperd: worker 77 oom-killed by policy hard-limit",
        },
        {"path": str(log), "line": 3, "text": "12:00:10 supervisor: child exited with code 137"},
    ]
    assert code == 0  # nothing understood: exit 1 is not claimed for guesses
    main(["why", str(log)])
    text = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "No kill found" not in text
    assert "2 lines look like kill evidence but were not understood" in text
    assert "reaperd" in text


def test_lines_of_an_understood_record_are_not_listed(tmp_path: Path, capsys: object) -> None:
    log = tmp_path / "kern.log"
    log.write_text(KERNEL_KILL + "[ 10.1] oom_reaper: reaped process 4242 (orders)\n")
    code, out = _json(capsys, str(log))
    assert [e["pid"] for e in out["events"]] == [4242]
    assert (code, out["unrecognized"]) == (1, [])


def test_an_unknown_line_beside_a_known_kill_is_listed(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_text(KERNEL_KILL + "\n" * 20 + "watchdog: SIGKILL sent to pid 99 (hung)\n")
    report = explain_kills([str(log)], None)
    assert [u["line"] for u in report.sections["unrecognized"]] == [22]


def test_memory_talk_that_is_not_a_kill_is_not_listed(tmp_path: Path) -> None:
    log = tmp_path / "quiet.log"
    log.write_text(
        "fatal error: runtime: out of memory\n"
        "earlyoom: sending SIGTERM when mem <= 10 % and swap <= 10 %,\n"
        "        SIGKILL when mem <=  5 % and swap <=  5 %\n"
        "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n"
        "echo -1000 > /proc/self/oom_score_adj\n"
    )
    report = explain_kills([str(log)], None)
    assert (report.summary, report.sections["unrecognized"]) == (
        "No kill found in the evidence.",
        [],
    )


def test_the_list_is_capped(tmp_path: Path) -> None:
    log = tmp_path / "flood.log"
    log.write_text("zzz: task oom-killed\n" * (MAX_CANDIDATES + 50))
    report = explain_kills([str(log)], None)
    assert len(report.sections["unrecognized"]) == MAX_CANDIDATES


@given(st.text(alphabet="oOmMkKiIlLdD-_ 137:=/", max_size=200))
def test_looks_like_kill_is_total(text: str) -> None:
    assert looks_like_kill(text) in (True, False)


def test_call_trace_frames_and_oomd_candidates_are_not_verdicts() -> None:
    assert not looks_like_kill("[ 9.1]  oom_kill_process.cold+0xb/0x10")
    assert not looks_like_kill(
        "systemd-oomd[9]: Considered 97 cgroups for killing, top candidates were:"
    )
    assert looks_like_kill("[ 9.1] Memory cgroup out of memory: Kill process 7 (x) score 1")
