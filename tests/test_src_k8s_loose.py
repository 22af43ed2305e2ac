"""Kubernetes and Docker evidence pasted in pieces (``sources/k8s_loose.py``), read the way
``killproof why`` reads a log: each input is a minimal fragment written from the format."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from killproof.facts.kill import Cause
from killproof.why.run import build_report, explain_kills, read_stream


def _why(text: str) -> list[dict[str, Any]]:
    events = list(read_stream(io.BytesIO(text.encode()), "paste.txt"))
    report = build_report(events, (), ("paste.txt",))
    return list(report.sections["events"])


def _short(events: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    return [(e["cause"], e["pod"], e["container"], e["killed"]) for e in events]


def test_describe_last_state_without_name_header() -> None:
    text = "    Last State:     Terminated\n      Reason:       OOMKilled\n      Exit Code:    137\n    Ready:          False\n"
    [event] = _why(text)
    assert (event["cause"], event["exit_code"]) == (Cause.K8S_OOMKILLED.value, 137)
    assert [e["line"] for e in event["evidence"]] == [1, 2, 3]


def test_describe_error_137_fragment_is_an_unattributed_sigkill() -> None:
    text = "State:          Terminated\n  Reason:       Error\n  Exit Code:    137\n"
    [event] = _why(text)
    assert (event["cause"], event["signal"]) == (Cause.SIGKILL_UNKNOWN.value, "SIGKILL")


def test_get_pods_rows_with_and_without_header() -> None:
    text = (
        "NAME        READY   STATUS      RESTARTS   AGE\n"
        "web-1       1/1     Running     0          3d\n"
        "web-2       0/1     OOMKilled   4          3d\n"
        "prod   api-7   0/1   Evicted   0   32m   <none>   10.0.0.1\n"
    )
    assert sorted(_short(_why(text))) == [
        (Cause.K8S_EVICTED.value, "api-7", None, True),
        (Cause.K8S_OOMKILLED.value, "web-2", None, True),
    ]


def test_eviction_message_joins_the_named_pod_row_of_the_same_input() -> None:
    text = (
        "api-7   0/1   Evicted   0   3d\n"
        "Message:  The node was low on resource: memory. Container api was using 900Ki, "
        "which exceeds its request of 0.\n"
    )
    [event] = _why(text)
    assert (event["cause"], event["pod"], event["container"]) == ("K8S_EVICTED", "api-7", "api")


def test_eviction_message_continued_on_the_next_line_names_the_container() -> None:
    text = (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 1Ki.\n"
        "Container worker was using 4Gi, request is 1Gi, has larger consumption of memory.\n"
    )
    [event] = _why(text)
    assert (event["cause"], event["container"]) == ("K8S_EVICTED", "worker")


def test_memory_pressure_rejection_is_not_a_kill() -> None:
    text = "5m   Warning   Evicted   pod/job-x   The node had condition: [MemoryPressure].\n"
    assert _short(_why(text)) == [("K8S_EVICTED", "job-x", None, False)]


def test_kubelet_oom_watcher_events_give_the_scope() -> None:
    text = (
        "  Warning  SystemOOM  1m  kubelet  System OOM encountered, victim process: db, pid: 41\n"
        "  Warning  CgroupOOM  1m  kubelet  Cgroup OOM encountered, victim process: app, pid: 52\n"
    )
    got = [(e["cause"], e["pid"], e["process"]) for e in _why(text)]
    # Newest first: an event table lists the oldest first, and these give no clock time.
    assert got == [("KERNEL_OOM_MEMCG", 52, "app"), ("KERNEL_OOM_GLOBAL", 41, "db")]


def test_npd_selection_line_is_memcg_with_the_selected_pid_only() -> None:
    text = "Warning OOMKilling  Memory cgroup out of memory: Kill process 77 (x) score 9 or sacrifice child\n"
    [event] = _why(text)
    assert (event["cause"], event["pid"], event["selected_pid"]) == ("KERNEL_OOM_MEMCG", None, 77)


def test_json_status_piece_names_the_container_key_around_it() -> None:
    text = (
        '  "cache": {\n    "state": {\n      "termination": {\n        "exitCode": 137,\n'
        '        "reason": "OOM Killed"\n      }\n    },\n'
    )
    [event] = _why(text)
    assert (event["cause"], event["container"]) == ("K8S_OOMKILLED", "cache")


def test_yaml_last_state_piece() -> None:
    text = "  lastState:\n    terminated:\n      exitCode: 137\n      reason: Error\n  name: web\n"
    [event] = _why(text)
    assert (event["cause"], event["exit_code"]) == ("SIGKILL_UNKNOWN", 137)


def test_docker_state_fragment_json_and_javascript_like() -> None:
    for text in (
        '"State": {\n  "OOMKilled": false,\n  "ExitCode": 137\n}\n',
        "`State:{\nExitCode:137,\nOOMKilled:false,\n}`\n",
    ):
        [event] = _why(text)
        assert (event["cause"], event["exit_code"]) == ("SIGKILL_UNKNOWN", 137), text
    [oom] = _why('"State": {"OOMKilled": true, "ExitCode": 137}\n')
    assert oom["cause"] == "KERNEL_OOM_UNKNOWN_SCOPE"


def test_truncated_pod_json_is_read_as_text_and_the_damage_is_said(tmp_path: Path) -> None:
    pod = tmp_path / "pod.json"
    pod.write_text(
        '{\n  "kind": "Pod",\n  "status": {"containerStatuses": [{\n    "lastState": {\n'
        '      "terminated": {\n        "exitCode": 137,\n        "reason": "OOMKilled"\n      }\n'
    )
    report = explain_kills([str(pod)], None)
    [event] = report.sections["events"]
    assert (event["cause"], [e["line"] for e in event["evidence"]]) == ("K8S_OOMKILLED", [5, 6, 7])
    [skip] = report.skipped
    assert "kept" in skip.reason and "JSON" in skip.reason


def test_events_section_without_describe_header() -> None:
    text = (
        "Events:\n"
        "  Type     Reason     Age   From     Message\n"
        "  ----     ------     ----  ----     -------\n"
        "  Warning  Unhealthy  11s   kubelet  Liveness probe failed: timeout\n"
        "  Normal   Killing    11s   kubelet  Container api failed liveness probe, will be restarted\n"
    )
    [event] = _why(text)
    assert (event["cause"], event["container"], event["killed"]) == (
        "K8S_LIVENESS_KILL",
        "api",
        True,
    )


def test_exit_code_0_and_143_fragments() -> None:
    assert _why("State: Terminated\n  Reason: Completed\n  Exit Code: 0\n") == []
    [term] = _why("State: Terminated\n  Reason: Error\n  Exit Code: 143\n")
    assert term["signal"] == "SIGTERM"
