"""earlyoom logs of every generation → attempts and confirmed kills."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from killproof.facts.kill import Cause, KillEvent
from killproof.sources.earlyoom import EarlyoomParser

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"


def feed(parser: EarlyoomParser, text: str) -> list[KillEvent]:
    """Feed lines the way the log scanner does: anchored lines only."""
    out: list[KillEvent] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if parser.wants_context or any(a in line for a in parser.anchors):
            out += parser.feed(lineno, line)
    return out + list(parser.finish())


def parse(name: str) -> list[KillEvent]:
    return feed(EarlyoomParser(name), (FIXTURES / name).read_text())


def test_v1_1_victim_line_without_confirmation_stays_an_attempt() -> None:
    [event] = parse("earlyoom-v1.1.log")
    assert (event.cause, event.pid, event.process, event.signal) == (
        Cause.EARLYOOM,
        5874,
        "bash",
        "SIGTERM",
    )
    assert event.anon_rss_kb == 3160 * 1024
    assert event.killed is False
    assert [ev.line for ev in event.evidence] == [5]


def test_v1_2_confirmed_by_exit_line() -> None:
    [event] = parse("earlyoom-v1.2.journal")
    assert (event.pid, event.process, event.killed, event.anon_rss_kb) == (
        27541,
        "bash",
        True,
        7609 * 1024,
    )
    assert event.host == "desk"
    assert event.time == "апр 07 21:43:50"
    assert [ev.line for ev in event.evidence] == [3, 4]


def test_v1_6_escalation_to_sigkill_then_exit() -> None:
    [event] = parse("earlyoom-v1.6.log")
    assert (event.pid, event.process, event.signal, event.killed) == (
        29410,
        "cluster",
        "SIGKILL",
        True,
    )
    assert event.anon_rss_kb == 23964 * 1024
    assert "uid 1000" in (event.reason or "")
    assert [ev.line for ev in event.evidence] == [3, 4, 5]


def test_v1_9_confirmed_failed_not_exited_and_unconfirmed() -> None:
    events = {e.pid: e for e in parse("earlyoom-v1.9.journal")}
    assert set(events) == {91234, 91877, 92001, 93000}
    orders = events[91234]
    assert (orders.killed, orders.process, orders.signal, orders.oom_score_adj) == (
        True,
        "orders",
        "SIGTERM",
        0,
    )
    assert orders.anon_rss_kb == 12890 * 1024
    assert orders.epoch_s == 1763731370.0  # 2025-11-21T14:22:50+01:00
    failed = events[91877]
    assert (failed.killed, failed.signal) == (False, "SIGKILL")
    assert "Timer expired" in (failed.message or "")
    assert events[92001].killed is False
    assert "did not exit" in (events[92001].message or "")
    assert events[93000].killed is False
    assert all(e.cause is Cause.EARLYOOM for e in events.values())


def test_oldest_victim_line_names_pid_and_process_only() -> None:
    text = (
        "earlyoom[700]: Killing process 5874 (bash)\nearlyoom[700]: Killing process 6001 firefox\n"
    )
    events = feed(EarlyoomParser(), text)
    # Before 1.0 earlyoom sent SIGKILL at once and logged only a failure: each is a death.
    assert [(e.pid, e.process, e.signal, e.killed) for e in events] == [
        (5874, "bash", "SIGKILL", True),
        (6001, "firefox", "SIGKILL", True),
    ]


def test_v0_kill_that_failed_is_an_attempt() -> None:
    text = "Killing process 5874 bash\nkill failed: Operation not permitted\n"
    [event] = feed(EarlyoomParser(), text)
    assert (event.pid, event.killed) == (5874, False)


def test_v0_out_of_memory_with_its_victim_is_one_event_and_alone_is_an_attempt() -> None:
    text = "Out of memory! avail: 0 MiB < min: 587 MiB\nKilling process 8230 sudo\n"
    [event] = feed(EarlyoomParser(), text)
    assert (event.pid, event.killed, [e.line for e in event.evidence]) == (8230, True, [1, 2])
    [cut] = feed(
        EarlyoomParser(), "mem avail: 0 MiB (0 %)\nOut of memory! avail: 0 MiB < min: 5 MiB\n"
    )
    assert (cut.cause, cut.pid, cut.killed) == (Cause.EARLYOOM, None, False)


def test_v0_found_nothing_to_kill_is_an_attempt_without_victim() -> None:
    [event] = feed(EarlyoomParser(), "earlyoom[9]: Error: Could not find a process to kill\n")
    assert (event.cause, event.pid, event.killed) == (Cause.EARLYOOM, None, False)


def test_1_3_lines_without_uid_and_exit_confirmation_without_pid() -> None:
    text = (
        'sending SIGTERM to process 42 "py": badness 9, VmRSS 3 MiB\n'
        "escalating to SIGKILL after 2.4 seconds\n"
        "process exited after 2.8 seconds\n"
    )
    [event] = feed(EarlyoomParser(), text)
    assert (event.pid, event.process, event.signal, event.killed) == (42, "py", "SIGKILL", True)
    assert event.anon_rss_kb == 3 * 1024


def test_systemd_killing_line_is_not_earlyoom() -> None:
    for text in (
        "orders.service: Killing process 4187 (orders) with signal SIGKILL.",
        "May 07 21:43:54 web1 systemd[1]: orders.service: Killing process 4187 (orders) with "
        "signal SIGKILL.",
        "systemd[1]: Killing process 4187 (orders)",
    ):
        assert feed(EarlyoomParser(), text) == []


def test_exit_line_without_victim_line_is_still_a_death() -> None:
    [event] = feed(EarlyoomParser(), "earlyoom[1]: process 77 exited after 0.1 seconds")
    assert (event.pid, event.killed, event.process) == (77, True, None)


@given(st.lists(st.text(max_size=120), max_size=20))
def test_arbitrary_lines_never_raise(lines: list[str]) -> None:
    parser = EarlyoomParser()
    for i, line in enumerate(lines, 1):
        list(parser.feed(i, line))
    list(parser.finish())


@given(
    st.lists(
        st.sampled_from(
            [
                'sending SIGTERM to process 5 uid 0 "a": badness 9, VmRSS 10 MiB',
                'sending SIGKILL to process 6 uid 0 "b": oom_score 9, oom_score_adj 0, '
                'VmRSS 1 MiB, cmdline "b"',
                "escalating to SIGKILL after 0.5 seconds",
                "kill failed: Timer expired",
                "process 5 did not exit",
            ]
        ),
        max_size=10,
    )
)
def test_without_an_exit_line_nothing_is_reported_killed(lines: list[str]) -> None:
    assert not any(e.killed for e in feed(EarlyoomParser(), "\n".join(lines)))
