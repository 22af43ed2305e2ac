"""``kubectl describe pod|node`` and ``kubectl get events`` text → kill events."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from killproof.facts.kill import Cause, KillEvent
from killproof.sources.k8s_text import DescribeParser, EventTableParser
from killproof.sources.lines import LineParser

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"


def feed(parser: LineParser, text: str) -> list[KillEvent]:
    """Feed lines the way the log scanner does: anchored lines, plus context on request."""
    out: list[KillEvent] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if parser.wants_context or any(a in line for a in parser.anchors):
            out += parser.feed(lineno, line)
    return out + list(parser.finish())


def line_of(name: str, needle: str, nth: int = 1) -> int:
    hits = [
        i for i, line in enumerate((FIXTURES / name).read_text().splitlines(), 1) if needle in line
    ]
    return hits[nth - 1]


def describe(name: str) -> list[KillEvent]:
    return feed(DescribeParser(name), (FIXTURES / name).read_text())


def describe_text(text: str) -> list[KillEvent]:
    return feed(DescribeParser("inline"), text)


def table(name: str) -> list[KillEvent]:
    return feed(EventTableParser(name), (FIXTURES / name).read_text())


def test_describe_pod_last_state_and_events() -> None:
    name = "describe-pod-oomkilled.txt"
    events = describe(name)
    oom = next(e for e in events if e.cause is Cause.K8S_OOMKILLED)
    assert (oom.pod, oom.namespace, oom.container, oom.exit_code, oom.host) == (
        "orders-7d9f8b6c5-x2kq9",
        "shop",
        "orders",
        137,
        "node-1",
    )
    assert oom.time == "Tue, 07 May 2024 21:43:54 +0000"
    assert oom.epoch_s == 1715118234.0  # the same instant as finishedAt in the pod's JSON
    assert [ev.line for ev in oom.evidence] == [
        line_of(name, "Last State:     Terminated"),
        line_of(name, "Reason:       OOMKilled"),
        line_of(name, "Exit Code:    137"),
    ]
    envoy = next(e for e in events if e.container == "envoy")
    assert (envoy.cause, envoy.signal, envoy.reason) == (Cause.SIGKILL_UNKNOWN, "SIGKILL", "Error")
    probe = [e for e in events if e.cause is Cause.K8S_LIVENESS_KILL]
    assert [(e.killed, e.container, e.evidence[0].line) for e in probe] == [
        (False, None, line_of(name, "Unhealthy")),
        (True, "orders", line_of(name, "failed liveness probe")),
    ]
    assert "3 times" in (probe[0].message or "")
    assert all(e.pod == "orders-7d9f8b6c5-x2kq9" and e.source == "k8s-describe" for e in events)
    assert len(events) == 4


def test_describe_pod_evicted() -> None:
    name = "describe-pod-evicted.txt"
    events = describe(name)
    assert [(e.cause, e.container, e.usage_kb) for e in events] == [
        (Cause.K8S_EVICTED, "search", 1834452),  # from Status/Reason/Message
        (Cause.K8S_EVICTED, "search", 1834452),  # from the Events table
    ]
    # The container's own Terminated/137 is the eviction's SIGKILL: joined, not separate.
    assert (events[0].exit_code, events[0].signal) == (137, "SIGKILL")
    assert events[0].time == "Mon, 11 Mar 2019 09:40:02 +0000"
    assert [ev.line for ev in events[0].evidence] == [
        line_of(name, "Status:"),
        line_of(name, "Reason:"),
        line_of(name, "Message:"),
        line_of(name, "State:      Terminated"),
        line_of(name, "Reason:   Error"),
        line_of(name, "Exit Code:    137"),
    ]
    assert events[0].evidence[0].text == "Status:           Failed"
    assert events[1].evidence[0].line == line_of(name, "Warning  Evicted")


def test_describe_node_events() -> None:
    name = "describe-node.txt"
    events = describe(name)
    assert [(e.cause, e.pid, e.process, e.killed) for e in events] == [
        # SystemOOM: the kubelet saw the victim in the root cgroup, a machine-wide OOM.
        (Cause.KERNEL_OOM_GLOBAL, 4187, "orders", True),
        (Cause.KERNEL_OOM_MEMCG, 4187, "orders", True),
        (Cause.KERNEL_OOM_GLOBAL, 3103923, "stress-ng-vm", True),
        (Cause.K8S_EVICTED, None, None, False),
    ]
    assert all(e.host == "node-1" and e.pod is None for e in events)
    assert events[2].anon_rss_kb == 14369596
    assert events[2].evidence[0].line == line_of(name, "stress-ng-vm")


def test_get_events_table() -> None:
    name = "get-events.txt"
    events = table(name)
    assert [(e.cause, e.killed, e.pod, e.container, e.evidence[0].line) for e in events] == [
        (Cause.K8S_LIVENESS_KILL, False, "orders-7d9f8b6c5-x2kq9", None, 3),
        (Cause.K8S_LIVENESS_KILL, True, "orders-7d9f8b6c5-x2kq9", "orders", 4),
        (Cause.K8S_EVICTED, True, "search-6b7c9d8f4-qq8lm", "search", 5),
        (Cause.KERNEL_OOM_MEMCG, True, None, None, 6),
    ]
    assert events[2].usage_kb == 1830740
    assert (events[3].host, events[3].pid) == ("node-1", 4187)


def test_get_events_all_namespaces() -> None:
    events = table("get-events-all-namespaces.txt")
    assert [(e.cause, e.namespace, e.pod, e.host, e.pid) for e in events] == [
        (Cause.K8S_LIVENESS_KILL, "prod", "api-0", None, None),
        (Cause.K8S_LIVENESS_KILL, "prod", "api-0", None, None),
        (Cause.KERNEL_OOM_GLOBAL, None, None, "worker-2", 9295),  # SystemOOM: machine-wide
    ]
    assert [e.killed for e in events] == [False, True, True]


def test_mangled_spacing_falls_back_to_runs_of_spaces() -> None:
    text = (
        "LAST SEEN   TYPE      REASON      OBJECT                       MESSAGE\n"
        "3m  Normal  Killing  pod/orders-1  "
        "Container orders failed liveness probe, will be restarted\n"
    )
    [event] = feed(EventTableParser(), text)
    assert (event.pod, event.container, event.cause) == (
        "orders-1",
        "orders",
        Cause.K8S_LIVENESS_KILL,
    )


def test_old_describe_events_table_with_tabs() -> None:
    text = (
        "Name:\t\torders-1\n"
        "Namespace:\tshop\n"
        "Events:\n"
        "  FirstSeen\tLastSeen\tCount\tFrom\t\t\tSubObjectPath\t\t\tType\t\tReason"
        "\t\tMessage\n"
        "  ---------\t--------\t-----\t----\t\t\t-------------\t\t\t--------\t"
        "------\t\t-------\n"
        "  2m\t\t2m\t\t3\tkubelet, node-1\tspec.containers{orders}\tWarning\t\tUnhealthy"
        "\tLiveness probe failed: HTTP probe failed with statuscode: 500\n"
        "  1m\t\t1m\t\t1\tkubelet, node-1\tspec.containers{orders}\tNormal\t\tKilling"
        "\tKilling container with id docker://orders:Container failed liveness probe.. "
        "Container will be killed and recreated.\n"
    )
    events = describe_text(text)
    assert [(e.cause, e.killed, e.container, e.pod) for e in events] == [
        (Cause.K8S_LIVENESS_KILL, False, "orders", "orders-1"),
        (Cause.K8S_LIVENESS_KILL, True, "orders", "orders-1"),
    ]
    assert "3 times" in (events[0].message or "")
    assert [e.evidence[0].line for e in events] == [6, 7]


def test_a_table_ends_at_a_line_that_does_not_fit() -> None:
    parser = EventTableParser()
    lines = [
        "LAST SEEN   TYPE      REASON    OBJECT      MESSAGE",
        "1m          Normal    Killing   pod/a-1     Container a failed liveness probe, "
        "will be restarted",
        "$ echo done",
    ]
    events = list(parser.feed(1, lines[0])) + list(parser.feed(2, lines[1]))
    assert [e.pod for e in events] == ["a-1"]
    assert parser.wants_context is True
    assert list(parser.feed(3, lines[2])) == []
    assert parser.wants_context is False


def test_a_name_line_in_some_other_log_is_dropped() -> None:
    text = "Name: backup job\nstarted\nfinished\nok\nmore\nKilled\n"
    parser = DescribeParser()
    assert feed(parser, text) == []
    assert parser.wants_context is False


@given(st.lists(st.text(max_size=80), max_size=30))
def test_arbitrary_lines_never_raise(lines: list[str]) -> None:
    for parser in (DescribeParser(), EventTableParser()):
        feed(
            parser,
            "\n".join(
                [
                    "Name:  x",
                    "Namespace:  y",
                    "LAST SEEN   TYPE   REASON   OBJECT   MESSAGE",
                    *lines,
                ]
            ),
        )
