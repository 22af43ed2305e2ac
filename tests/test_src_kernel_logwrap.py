"""Transport wrappers around kernel lines: each is peeled off, and its time and host kept."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.sources.kernel import parse_kernel_log
from killproof.sources.logwrap import Unwrapped, unwrap

MSG = "Memory cgroup out of memory: Killed process 24649 (orders-leak) total-vm:1701604kB"


@pytest.mark.parametrize(
    ("line", "time", "uptime", "epoch", "host", "ident"),
    [
        (f"[ 1584.622990] {MSG}", "1584.622990", 1584.62299, None, None, None),
        (f"[Thu Nov 26 16:00:01 2026] {MSG}", "Thu Nov 26 16:00:01 2026", None, None, None, None),
        (f"[Thu Nov  6 16:00:01 2026] {MSG}", "Thu Nov  6 16:00:01 2026", None, None, None, None),
        (
            f"2024-04-29T14:55:41,679700+02:00 {MSG}",
            "2024-04-29T14:55:41,679700+02:00",
            None,
            1714395341.6797,
            None,
            None,
        ),
        (f"[Mar19 10:02] {MSG}", "Mar19 10:02", None, None, None, None),
        (f"[  +0.000003] {MSG}", "+0.000003", None, None, None, None),
        (f"[    0.000000] {MSG}", "0.000000", None, None, None, None),
        (f"May 07 21:43:54 web-3 kernel: {MSG}", "May 07 21:43:54", None, None, "web-3", "kernel"),
        (f"апр 07 21:43:54 web-3 kernel: {MSG}", "апр 07 21:43:54", None, None, "web-3", "kernel"),
        (
            f"avril 07 21:43:54 web-3 kernel: {MSG}",
            "avril 07 21:43:54",
            None,
            None,
            "web-3",
            "kernel",
        ),
        (f"5月 07 21:43:54 web-3 kernel: {MSG}", "5月 07 21:43:54", None, None, "web-3", "kernel"),
        (
            f"May 07 21:43:54.123456 web-3 kernel: {MSG}",
            "May 07 21:43:54.123456",
            None,
            None,
            "web-3",
            "kernel",
        ),
        (
            f"2024-05-07T21:43:54+0200 k8s-node-2 kernel: {MSG}",
            "2024-05-07T21:43:54+0200",
            None,
            1715111034.0,
            "k8s-node-2",
            "kernel",
        ),
        (
            f"2024-05-07T19:43:54.500000+00:00 n1 kernel: {MSG}",
            "2024-05-07T19:43:54.500000+00:00",
            None,
            1715111034.5,
            "n1",
            "kernel",
        ),
        (f"kernel: {MSG}", None, None, None, None, "kernel"),
        (
            f"Tue 2024-05-07 21:43:54 CEST web-3 kernel: {MSG}",
            "Tue 2024-05-07 21:43:54 CEST",
            None,
            None,
            "web-3",
            "kernel",
        ),
        (
            f"Tue 2024-05-07 19:43:54.250000 UTC web-3 kernel: {MSG}",
            "Tue 2024-05-07 19:43:54.250000 UTC",
            None,
            1715111034.25,
            "web-3",
            "kernel",
        ),
        (
            f"1715111034.250000 web-3 kernel: {MSG}",
            "1715111034.250000",
            None,
            1715111034.25,
            "web-3",
            "kernel",
        ),
        (
            f"Mar  2 17:35:10 db-1 kernel: [2858609.598568] {MSG}",
            "Mar  2 17:35:10",
            2858609.598568,
            None,
            "db-1",
            "kernel",
        ),
        (f"<6>[ 1651.222000] {MSG}", "1651.222000", 1651.222, None, None, None),
        (f"6,1234,1651222000,-;{MSG}", None, 1651.222, None, None, None),
        (f"[ 9120.331250] [ T90210] {MSG}", "9120.331250", 9120.33125, None, None, None),
        (
            f"[ 1584.622990] host-a kernel: {MSG}",
            "1584.622990",
            1584.62299,
            None,
            "host-a",
            "kernel",
        ),
        (
            f"2019-05-16T09:10:04.146Z| vcpu-1| I125: Guest: <6>[12345.678901] {MSG}",
            "2019-05-16T09:10:04.146Z",
            12345.678901,
            1557997804.146,
            None,
            None,
        ),
        (f"> [ 1584.622990] {MSG}", "1584.622990", 1584.62299, None, None, None),
        (
            f"> > May 07 21:43:54 web-3 kernel: {MSG}",
            "May 07 21:43:54",
            None,
            None,
            "web-3",
            "kernel",
        ),
        (f"    [ 1584.622990] {MSG}", "1584.622990", 1584.62299, None, None, None),
        (f"- [ 1584.622990] {MSG}", "1584.622990", 1584.62299, None, None, None),
        (f"* kernel: {MSG}", None, None, None, None, "kernel"),
        (f"{MSG}\r", None, None, None, None, None),
    ],
)
def test_wrapper_is_removed(
    line: str,
    time: str | None,
    uptime: float | None,
    epoch: float | None,
    host: str | None,
    ident: str | None,
) -> None:
    got = unwrap(line)
    assert got.text == MSG
    assert got.time == time
    assert got.uptime_s == (pytest.approx(uptime) if uptime is not None else None)
    assert got.epoch_s == (pytest.approx(epoch) if epoch is not None else None)
    assert (got.host, got.ident) == (host, ident)


def test_other_daemons_keep_their_ident() -> None:
    got = unwrap("May 07 21:43:54 web-3 systemd[1]: orders.service: Main process exited")
    assert (got.ident, got.host, got.text) == (
        "systemd",
        "web-3",
        "orders.service: Main process exited",
    )


def test_task_table_row_is_not_a_time_stamp() -> None:
    row = "[  24649]     0 24649   425401    17795 orders-leak"
    assert unwrap(row) == Unwrapped(text=row)
    assert unwrap("[ 1584.623929] " + row).text == row


def test_stack_line_keeps_its_text() -> None:
    assert unwrap("[ 1584.623117]  dump_stack_lvl+0x57/0x80").text == " dump_stack_lvl+0x57/0x80"


REPORT = [
    "orders-leak invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
    "CPU: 1 UID: 0 PID: 24653 Comm: orders-leak Not tainted 6.18.44-fc-v669 #1",
    "memory: usage 65536kB, limit 65536kB, failcnt 59",
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
    "oom_memcg=/orders,task_memcg=/orders,task=orders-leak,pid=24649,uid=0",
    "Memory cgroup out of memory: Killed process 24649 (orders-leak) total-vm:1701604kB, "
    "anon-rss:64896kB, file-rss:6284kB, shmem-rss:0kB, UID:0 pgtables:284kB oom_score_adj:0",
]
PREFIXES = [
    "[ 1584.622990] ",
    "Tue 2024-05-07 21:43:54 CEST web-3 kernel: ",
    "1715111034.250000 web-3 kernel: ",
    "[Thu Nov 26 15:48:44 2026] ",
    "2024-04-29T14:55:41,679700+02:00 ",
    "May 07 21:43:54 web-3 kernel: ",
    "2024-05-07T21:43:54+0200 web-3 kernel: ",
    "kernel: ",
    "Mar  2 17:35:10 db-1 kernel: [2858609.598568] ",
    "<6>[ 1584.622990] ",
    "> [ 1584.622990] ",
    "    [ 1584.622990] ",
    "- [ 1584.622990] ",
    "",
]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_whole_report_under_each_wrapper(prefix: str) -> None:
    [event] = parse_kernel_log([prefix + line for line in REPORT])
    assert (event.pid, event.invoker_pid, event.limit_kb, event.oom_memcg) == (
        24649,
        24653,
        65536,
        "/orders",
    )


@settings(deadline=None)  # CI shares its cores: time is not what is tested
@given(st.text(max_size=300))
def test_unwrap_never_raises_and_never_grows(line: str) -> None:
    got = unwrap(line)
    assert len(got.text) <= len(line)


@settings(deadline=None)  # CI shares its cores: time is not what is tested
@given(st.sampled_from(PREFIXES), st.text(max_size=80))
def test_unwrap_keeps_the_message_after_a_known_prefix(prefix: str, tail: str) -> None:
    message = "Killed process 1 (x) " + tail.replace("\n", " ").replace("\r", " ")
    assert unwrap(prefix + message).text == message.rstrip()


def test_dmesg_facility_and_delta_forms() -> None:
    got = unwrap(f"kern  :info  : [ 1584.622990] {MSG}")
    assert got.text == MSG
    assert got.uptime_s == pytest.approx(1584.62299)
    got = unwrap(f"[<    0.000123>] {MSG}")
    assert (got.text, got.time, got.uptime_s) == (MSG, "<    0.000123>", None)


def test_journal_json_record() -> None:
    record = {
        "__REALTIME_TIMESTAMP": "1715111034123456",
        "__MONOTONIC_TIMESTAMP": "1584700000",
        "_SOURCE_MONOTONIC_TIMESTAMP": "1584622990",
        "_HOSTNAME": "k8s-node-2",
        "SYSLOG_IDENTIFIER": "kernel",
        "MESSAGE": MSG,
    }
    got = unwrap(json.dumps(record))
    assert (got.text, got.time, got.host, got.ident) == (
        MSG,
        "2024-05-07T19:43:54.123456+00:00",
        "k8s-node-2",
        "kernel",
    )
    # the kernel's print time, not journald's receive time (__MONOTONIC_TIMESTAMP)
    assert got.uptime_s == pytest.approx(1584.62299)
    assert got.epoch_s == pytest.approx(1715111034.123456)
    # journald stores a message that is not UTF-8 as a list of bytes
    raw = unwrap(json.dumps({"MESSAGE": list(b"Killed process 7 (\xff)")}))
    assert raw.text == "Killed process 7 (\ufffd)"
    # not a journal record: left as it is
    assert unwrap('{"MESSAGE": 5}').text == '{"MESSAGE": 5}'
    assert unwrap('{"MESSAGE": "x"').text == '{"MESSAGE": "x"'


def test_whole_report_as_journal_json_lines() -> None:
    lines = [
        json.dumps(
            {
                "__REALTIME_TIMESTAMP": str(1715111034000000 + i),
                "_HOSTNAME": "n1",
                "SYSLOG_IDENTIFIER": "kernel",
                "MESSAGE": line,
            }
        )
        for i, line in enumerate(REPORT)
    ]
    lines.insert(2, json.dumps({"SYSLOG_IDENTIFIER": "systemd", "MESSAGE": "Started x."}))
    [event] = parse_kernel_log(lines)
    assert (event.pid, event.invoker_pid, event.limit_kb, event.host) == (24649, 24653, 65536, "n1")
    assert event.epoch_s == pytest.approx(1715111034.000004)


JOURNAL_KEYS = st.sampled_from(
    [
        "MESSAGE",
        "__REALTIME_TIMESTAMP",
        "_SOURCE_MONOTONIC_TIMESTAMP",
        "_HOSTNAME",
        "SYSLOG_IDENTIFIER",
    ]
)
JSON_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["¹²", "١٢٣", "9999999999999999999", "99999999999999999999999", "-1", ""]),
    st.integers(-(2**70), 2**70),
    st.lists(st.integers(-5, 300), max_size=10),
    st.none(),
)


@settings(deadline=None)
@given(st.dictionaries(JOURNAL_KEYS, JSON_VALUES, max_size=5))
def test_journal_json_of_any_shape_never_raises(record: dict[str, object]) -> None:
    got = unwrap(json.dumps(record))
    if isinstance(record.get("MESSAGE"), str):
        assert got.text == str(record["MESSAGE"]).rstrip()


def test_deeply_nested_json_is_left_as_text() -> None:
    line = '{"MESSAGE": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert unwrap(line).text == line
