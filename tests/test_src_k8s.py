"""Kubernetes pod/event JSON+YAML and docker inspect → kill events with exact source lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.errors import InputError
from killproof.facts.kill import Cause, KillEvent
from killproof.sources.docpos import MAX_QUOTE_CHARS
from killproof.sources.k8s import detect_document, parse_document
from killproof.sources.k8s_messages import EventRecord, events_from_record

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"


def parse(name: str) -> list[KillEvent]:
    text = (FIXTURES / name).read_text()
    doc = detect_document(text, name)
    assert doc is not None
    return parse_document(doc, name)


def line_of(name: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle`` (the test's own ground truth)."""
    hits = [
        i for i, line in enumerate((FIXTURES / name).read_text().splitlines(), 1) if needle in line
    ]
    return hits[nth - 1]


def test_pod_list_terminated_states() -> None:
    name = "pods-list.json"
    events = {(e.pod, e.container): e for e in parse(name)}
    oom = events[("orders-7d9f8b6c5-x2kq9", "orders")]
    assert (oom.cause, oom.exit_code, oom.signal, oom.killed) == (
        Cause.K8S_OOMKILLED,
        137,
        "SIGKILL",
        True,
    )
    assert (oom.namespace, oom.host, oom.time) == ("shop", "node-1", "2024-05-07T21:43:54Z")
    assert oom.epoch_s == 1715118234.0
    assert [(ev.line, ev.text) for ev in oom.evidence] == [
        (line_of(name, '"reason": "OOMKilled"'), '"reason": "OOMKilled",'),
        (line_of(name, '"exitCode": 137'), '"exitCode": 137,'),
    ]
    envoy = events[("orders-7d9f8b6c5-x2kq9", "envoy")]
    assert (envoy.cause, envoy.signal, envoy.reason) == (Cause.SIGKILL_UNKNOWN, "SIGKILL", "Error")
    assert envoy.evidence[0].line == line_of(name, '"reason": "Error"')
    term = events[("report-job-28591740-abcde", "migrate")]
    assert (term.cause, term.signal, term.exit_code) == (Cause.SIGKILL_UNKNOWN, "SIGTERM", 143)
    zero = events[("report-job-28591740-abcde", "report")]
    assert (zero.cause, zero.exit_code, zero.killed) == (Cause.K8S_OOMKILLED, 0, True)
    assert "exited 0" in (zero.message or "")
    lost = events[("report-job-28591740-abcde", "lost")]
    assert (lost.killed, lost.exit_code) == (False, 137)
    assert ("report-job-28591740-abcde", "uploader") not in events  # a clean exit
    assert len(events) == 5


def test_pod_yaml_keeps_lines() -> None:
    [event] = parse("pod-oomkilled.yaml")
    assert (event.cause, event.pod, event.container, event.exit_code) == (
        Cause.K8S_OOMKILLED,
        "orders-7d9f8b6c5-x2kq9",
        "orders",
        137,
    )
    assert [ev.line for ev in event.evidence] == [
        line_of("pod-oomkilled.yaml", "reason: OOMKilled"),
        line_of("pod-oomkilled.yaml", "exitCode: 137"),
    ]
    assert event.evidence[0].text == "reason: OOMKilled"


def test_yaml_list_of_pods() -> None:
    text = (
        "apiVersion: v1\n"
        "items:\n"
        "- apiVersion: v1\n"
        "  kind: Pod\n"
        "  metadata: {name: a, namespace: n}\n"
        "  status:\n"
        "    containerStatuses:\n"
        "    - name: c\n"
        "      lastState:\n"
        "        terminated: {exitCode: 137, reason: Error, finishedAt: 2024-05-07T21:43:54Z}\n"
        "kind: List\n"
    )
    doc = detect_document(text, "list.yaml")
    assert doc is not None
    [event] = parse_document(doc, "list.yaml")
    assert (event.pod, event.container, event.signal, event.exit_code) == ("a", "c", "SIGKILL", 137)
    # An unquoted timestamp loads as a datetime; it is reported in the same RFC 3339 form.
    assert (event.time, event.epoch_s) == ("2024-05-07T21:43:54Z", 1715118234.0)
    assert [ev.line for ev in event.evidence] == [10, 10]


def test_disruption_target_other_than_the_kubelet_is_noted_not_concluded() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "batch-1", "namespace": "n"},
        "status": {
            "conditions": [
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "PreemptionByScheduler",
                    "message": "Preempted in order to admit critical pod",
                }
            ],
            "containerStatuses": [
                {"name": "c", "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}
            ],
        },
    }
    text = json.dumps(pod, indent=2)
    doc = detect_document(text, "p.json")
    assert doc is not None
    [event] = parse_document(doc, "p.json")
    assert (event.cause, event.signal, event.container) == (Cause.SIGKILL_UNKNOWN, "SIGKILL", "c")
    assert "PreemptionByScheduler" in (event.message or "")
    lines = text.splitlines()
    assert lines[event.evidence[-1].line - 1].strip() == '"reason": "PreemptionByScheduler",'


def test_evicted_old_wording() -> None:
    [event] = parse("pod-evicted-old.json")
    assert (event.cause, event.pod, event.container, event.usage_kb) == (
        Cause.K8S_EVICTED,
        "search-6b7c9d8f4-qq8lm",
        "search",
        1834452,
    )
    assert event.evidence[0].line == line_of("pod-evicted-old.json", '"reason": "Evicted"')


def test_evicted_new_wording_with_disruption_target_and_container_exit() -> None:
    events = {e.container: e for e in parse("pod-evicted-new.yaml")}
    assert set(events) == {"orders", "envoy"}
    orders = events["orders"]
    assert (orders.cause, orders.usage_kb, orders.exit_code, orders.signal) == (
        Cause.K8S_EVICTED,
        1830740,
        137,
        "SIGKILL",
    )
    assert orders.time == "2026-01-12T10:15:02Z"  # the DisruptionTarget transition
    lines = [ev.line for ev in orders.evidence]
    assert line_of("pod-evicted-new.yaml", "reason: TerminationByKubelet") in lines
    assert line_of("pod-evicted-new.yaml", "exitCode: 137") in lines
    assert events["envoy"].usage_kb == 51200
    assert events["envoy"].exit_code is None  # it exited 0 on SIGTERM


def test_core_events() -> None:
    name = "events.json"
    events = parse(name)
    by_reason: dict[str, list[KillEvent]] = {}
    for e in events:
        by_reason.setdefault(e.reason or "", []).append(e)
    [unhealthy] = by_reason["Unhealthy"]  # the readiness failure is not evidence
    assert (unhealthy.cause, unhealthy.killed, unhealthy.container) == (
        Cause.K8S_LIVENESS_KILL,
        False,
        "orders",
    )
    assert "3 times" in (unhealthy.message or "")
    [killing] = by_reason["Killing"]  # "Stopping container web" is not a probe kill
    assert (killing.cause, killing.killed, killing.pod, killing.namespace, killing.container) == (
        Cause.K8S_LIVENESS_KILL,
        True,
        "orders-7d9f8b6c5-x2kq9",
        "shop",
        "orders",
    )
    assert killing.time == "2024-05-07T21:42:00Z"
    assert killing.evidence[0].line == line_of(name, '"reason": "Killing"')
    [evicted] = by_reason["Evicted"]
    assert (evicted.cause, evicted.container, evicted.usage_kb) == (
        Cause.K8S_EVICTED,
        "search",
        1834452,
    )
    [oomkilling] = by_reason["OOMKilling"]
    assert (oomkilling.cause, oomkilling.pid, oomkilling.process, oomkilling.host) == (
        Cause.KERNEL_OOM_MEMCG,
        4187,
        "orders",
        "node-1",
    )
    assert (oomkilling.anon_rss_kb, oomkilling.total_vm_kb, oomkilling.oom_score_adj) == (
        262012,
        1891232,
        999,
    )
    assert oomkilling.pod is None
    [system] = by_reason["SystemOOM"]
    assert (system.cause, system.pid, system.process) == (
        Cause.KERNEL_OOM_GLOBAL,  # the victim's cgroup was the root one (kubelet oom_watcher)
        4187,
        "orders",
    )
    [previous] = by_reason["OOMKilled"]
    assert (previous.cause, previous.container) == (Cause.K8S_OOMKILLED, "orders")
    [threshold] = by_reason["EvictionThresholdMet"]
    assert (threshold.killed, threshold.host) == (False, "node-3")
    assert len(events) == 7


def test_probe_kill_wordings_and_grace_period() -> None:
    old = EventRecord(
        "Killing",
        "Killing container with id docker://orders:Container failed liveness probe.. "
        "Container will be killed and recreated.",
        "k8s-events",
        kind="Pod",
        name="orders-1",
    )
    [event] = events_from_record(old)
    assert (event.cause, event.container, event.grace_period_s) == (
        Cause.K8S_LIVENESS_KILL,
        "orders",
        None,
    )
    graced = EventRecord(
        "Killing",
        "Container api failed startup probe, will be restarted (grace period of 30s)",
        "k8s-events",
    )
    [event] = events_from_record(graced)
    assert (event.container, event.grace_period_s) == ("api", 30.0)
    stop = EventRecord("Killing", "Stopping container api", "k8s-events")
    assert events_from_record(stop) == []
    readiness = EventRecord("Unhealthy", "Readiness probe failed: 503", "k8s-events")
    assert events_from_record(readiness) == []


def test_events_k8s_io_v1() -> None:
    [event] = parse("events-v1.json")
    assert (event.cause, event.pod, event.namespace, event.container, event.time) == (
        Cause.K8S_LIVENESS_KILL,
        "api-0",
        "prod",
        "api",
        "2025-02-03T11:00:41Z",
    )
    assert event.evidence[1].line == line_of("events-v1.json", '"note"')


def test_docker_inspect() -> None:
    name = "docker-inspect.json"
    events = parse(name)
    assert len(events) == 2  # the clean exit is not evidence
    oom, sigkill = events
    assert (oom.cause, oom.container, oom.exit_code, oom.reason) == (
        Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        "orders",
        137,
        "OOMKilled",
    )
    assert oom.evidence[0].line == line_of(name, '"OOMKilled": true')
    assert oom.epoch_s == pytest.approx(1715118234.901338)
    assert (sigkill.cause, sigkill.signal, sigkill.pod, sigkill.namespace, sigkill.container) == (
        Cause.SIGKILL_UNKNOWN,
        "SIGKILL",
        "worker-5d8c7-abcde",
        "jobs",
        "worker",
    )
    assert sigkill.evidence[1].line == line_of(name, '"ExitCode": 137', 2)


def test_truncated_and_malformed_json_name_the_line() -> None:
    text = (FIXTURES / "pods-truncated.json").read_text()
    last = text.count("\n") + 1  # the file ends inside line 40, after '"reason": '
    assert text.splitlines()[-1].strip() == '"reason":'
    with pytest.raises(InputError) as err:
        detect_document(text, "pods-truncated.json")
    assert err.value.path == "pods-truncated.json"
    assert err.value.line == last == 40
    assert str(err.value).startswith("pods-truncated.json:40: truncated JSON at line 40")
    with pytest.raises(InputError, match="malformed JSON at line 6"):
        detect_document((FIXTURES / "pod-broken.json").read_text(), "pod-broken.json")


def test_malformed_yaml_names_the_line() -> None:
    text = "apiVersion: v1\nkind: Pod\nstatus:\n  reason: Evicted\n message: [oops\n"
    with pytest.raises(InputError, match="malformed YAML at line") as err:
        detect_document(text, "bad.yaml")
    assert err.value.line == 5


def test_other_inputs_are_not_documents() -> None:
    assert detect_document("[  518.050606] Killed process 1 (x)\n", "dmesg") is None
    assert detect_document('{"__CURSOR": "s=1", "MESSAGE": "hi"}\n{"x": 1}\n', "j") is None
    assert detect_document("Name: orders\nNamespace: shop\n", "describe") is None
    assert detect_document("", "empty") is None
    # Kubernetes data that is not kill evidence loads, and yields nothing.
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n"
    doc = detect_document(deployment, "d.yaml")
    assert doc is not None
    assert parse_document(doc, "d.yaml") == []


def test_concatenated_watch_output() -> None:
    one = {
        "kind": "Event",
        "apiVersion": "v1",
        "reason": "Killing",
        "message": "Container a failed liveness probe, will be restarted",
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "n"},
    }
    text = json.dumps(one) + "\n" + json.dumps(one, indent=2) + "\n"
    doc = detect_document(text, "watch.json")
    assert doc is not None
    events = parse_document(doc, "watch.json")
    assert [e.evidence[0].line for e in events] == [1, 2 + 3]  # second doc: "reason" on line 5


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "kind",
                    "apiVersion",
                    "status",
                    "State",
                    "items",
                    "reason",
                    "exitCode",
                    "containerStatuses",
                    "lastState",
                    "terminated",
                    "message",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=200)
@given(JSON_VALUES, st.integers(min_value=0, max_value=400))
def test_arbitrary_json_and_cuts_raise_only_input_error(value: object, cut: int) -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [value]}, indent=1)
    for candidate in (text, text[:cut]):
        try:
            doc = detect_document(candidate, "fuzz.json")
        except InputError as exc:
            assert exc.path == "fuzz.json"
            assert exc.line >= 1
            continue
        if doc is not None:
            for event in parse_document(doc, "fuzz.json"):
                assert event.cause in Cause


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_input_error(text: str) -> None:
    for candidate in (text, "apiVersion: v1\nkind: Pod\n" + text, '{"kind": "Pod", ' + text):
        try:
            doc = detect_document(candidate, "t")
        except InputError:
            continue
        if doc is not None:
            parse_document(doc, "t")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["OOMKilled", "Error", "Completed"]),
            st.sampled_from([0, 1, 137, 143]),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([None, 1, 2]),
)
def test_cited_lines_in_generated_pod_lists(
    states: list[tuple[str, int, bool]], indent: int | None
) -> None:
    pods = [
        {
            "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": "n"},
            "spec": {"containers": [{"name": "c"}]},
            "status": {
                "containerStatuses": [
                    {
                        "name": "c",
                        "lastState" if last else "state": {
                            "terminated": {"exitCode": code, "reason": reason}
                        },
                    }
                ]
            },
        }
        for i, (reason, code, last) in enumerate(states)
    ]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}, indent=indent)
    doc = detect_document(text, "gen.json")
    assert doc is not None
    lines = text.splitlines()
    events = parse_document(doc, "gen.json")
    expected = [
        f"p{i}"
        for i, (reason, code, _) in enumerate(states)
        if reason == "OOMKilled" or code in (137, 143)
    ]
    assert [e.pod for e in events] == expected
    for e in events:
        i = int((e.pod or "p-1")[1:])
        reason, code, _ = states[i]
        reason_ev, code_ev = e.evidence
        line = lines[reason_ev.line - 1].strip()
        if len(line) <= MAX_QUOTE_CHARS:
            assert reason_ev.text == line
        else:  # a long (minified) line is quoted around the key, not whole
            assert reason_ev.text.strip("…") in line
            assert len(reason_ev.text) <= MAX_QUOTE_CHARS + 2
        assert f'"reason": "{reason}"' in reason_ev.text
        assert f'"exitCode": {code}' in code_ev.text
        if indent is None:
            assert reason_ev.line == code_ev.line == 1
    if indent is not None:
        # Each pod sits below the one before it.
        cited = [e.evidence[0].line for e in events]
        assert cited == sorted(set(cited))
