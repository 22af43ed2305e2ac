"""systemd / systemd-oomd journal lines → kill events (real wording from systemd's sources)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from killproof.facts.kill import Cause, KillEvent
from killproof.sources.journal import split_journal_line
from killproof.sources.systemd import SystemdParser

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"


def feed(parser: SystemdParser, text: str) -> list[KillEvent]:
    """Feed lines the way the log scanner does: anchored lines, plus context on request."""
    out: list[KillEvent] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if parser.wants_context or any(a in line for a in parser.anchors):
            out += parser.feed(lineno, line)
    return out + list(parser.finish())


def parse(name: str) -> list[KillEvent]:
    return feed(SystemdParser(name), (FIXTURES / name).read_text())


def test_stop_timeout_names_each_sigkilled_pid() -> None:
    events = parse("systemd-stop-timeout.journal")
    assert [(e.cause, e.pid, e.process, e.signal, e.killed) for e in events] == [
        (Cause.SYSTEMD_STOP_TIMEOUT, 4187, "orders", "SIGKILL", True),
        (Cause.SYSTEMD_STOP_TIMEOUT, 4203, "orders-sidecar", "SIGKILL", True),
    ]
    main = events[0]
    assert main.unit == "orders.service"
    assert main.host == "web1"
    assert main.time == "May 07 21:43:54"
    # The timeout line, the pid's own line, then the unit's exit and result lines.
    assert [ev.line for ev in main.evidence] == [3, 4, 6, 7]
    assert all(ev.path == "systemd-stop-timeout.journal" for ev in main.evidence)
    assert [ev.line for ev in events[1].evidence] == [3, 5]


def test_oom_kill_result_and_signal_deaths() -> None:
    events = parse("systemd-oom-kill.journal")
    by_unit = {e.unit: e for e in events}
    # batch.service's main process died of SIGTERM (status=15/TERM): a stop, not a kill.
    assert set(by_unit) == {"api.service", "worker.service"}
    api = by_unit["api.service"]
    # Three lines of one death fold into one event: the kernel killed it, with SIGKILL.
    assert (api.cause, api.signal, api.pid, api.killed) == (
        Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        "SIGKILL",
        None,
        True,
    )
    assert [ev.line for ev in api.evidence] == [3, 4, 5]
    assert api.epoch_s == 1715118601.0
    worker = by_unit["worker.service"]
    assert (worker.cause, worker.signal, worker.killed) == (Cause.SIGKILL_UNKNOWN, "SIGKILL", True)


def test_old_wording_terminating_is_only_a_kill_when_the_exit_confirms_it() -> None:
    events = parse("systemd-old-wording.syslog")
    by_unit = {e.unit: e for e in events}
    orders = by_unit["orders.service"]
    assert (orders.cause, orders.signal, orders.killed) == (
        Cause.SYSTEMD_STOP_TIMEOUT,
        "SIGTERM",
        True,
    )
    assert [ev.line for ev in orders.evidence] == [2, 3]
    billing = by_unit["billing.service"]
    # SIGTERM was sent, but the main process exited 0 by itself: an attempt, not a kill.
    assert (billing.cause, billing.killed, billing.pid) == (Cause.SYSTEMD_STOP_TIMEOUT, False, None)


def test_systemd_oomd_kills_decisions_and_attempts() -> None:
    events = parse("systemd-oomd.journal")
    killed_cgroup = events[0]
    assert killed_cgroup.cause is Cause.SYSTEMD_OOMD
    assert killed_cgroup.killed is True
    assert killed_cgroup.unit == "app-gnome-firefox-1234.scope"
    assert killed_cgroup.oom_memcg == "/user.slice/user-1000.slice/user@1000.service"
    assert killed_cgroup.source == "systemd-oomd"
    assert killed_cgroup.pid is None
    marked = next(e for e in events if e.task_memcg == "/system.slice/orders.service")
    assert (marked.killed, marked.unit, marked.oom_memcg) == (
        False,
        "orders.service",
        "/system.slice",
    )
    attempt = next(e for e in events if e.pid is not None)
    assert (attempt.pid, attempt.killed, attempt.signal) == (7321, False, "SIGKILL")
    # The unit's own line confirms; "Failed with result 'oom-kill'" folds into it and does
    # not turn an oomd kill into a kernel OOM.
    unit_side = [e for e in events if e.unit == "orders.service" and e.killed]
    assert len(unit_side) == 1
    assert unit_side[0].cause is Cause.SYSTEMD_OOMD
    assert [ev.line for ev in unit_side[0].evidence] == [5, 6]
    scope_side = [
        e for e in events if e.unit == "app-gnome-firefox-1234.scope" and e.source == "systemd"
    ]
    assert scope_side[0].message == "systemd-oomd killed 27 processes in this unit"
    assert not any(e.cause is Cause.KERNEL_OOM_UNKNOWN_SCOPE for e in events)


def test_journal_prefixes_are_taken_apart() -> None:
    short = split_journal_line("May 07 21:43:54 web1 systemd[1]: x.service: Failed.")
    assert (short.time, short.host, short.ident, short.text) == (
        "May 07 21:43:54",
        "web1",
        "systemd",
        "x.service: Failed.",
    )
    iso = split_journal_line("2024-05-07T21:43:54.123456+00:00 web1 earlyoom[9]: hi")
    assert iso.epoch_s == 1715118234.123456
    assert iso.text == "hi"
    localized = split_journal_line("апр 07 21:43:50 desk earlyoom[812]: hello")
    assert (localized.host, localized.ident, localized.text) == ("desk", "earlyoom", "hello")
    forwarded = split_journal_line(
        "Mar  2 17:35:10 h kernel: [ 518.050606] systemd[1]: a.service: b"
    )
    assert (forwarded.ident, forwarded.text) == ("systemd", "a.service: b")
    quoted = split_journal_line("> [  518.050606] Killed")
    assert (quoted.time, quoted.uptime_s, quoted.text) == ("518.050606", 518.050606, "Killed")
    tagged = split_journal_line("systemd[1]: b.service: Failed with result 'oom-kill'.")
    assert (tagged.ident, tagged.text) == ("systemd", "b.service: Failed with result 'oom-kill'.")
    bare = split_journal_line("orders.service: Main process exited")
    assert (bare.time, bare.text) == (None, "orders.service: Main process exited")


def test_scope_stop_timeout() -> None:
    text = (
        "Jun 02 09:00:00 h systemd[1]: session-4.scope: Stopping timed out. Killing.\n"
        "Jun 02 09:00:00 h systemd[1]: session-4.scope: Killing process 991 (tmux: server) "
        "with signal SIGKILL.\n"
    )
    [event] = feed(SystemdParser(), text)
    assert (event.cause, event.unit, event.pid, event.process, event.killed) == (
        Cause.SYSTEMD_STOP_TIMEOUT,
        "session-4.scope",
        991,
        "tmux: server",
        True,
    )


def test_lines_forwarded_through_the_kernel_log_keep_their_uptime() -> None:
    text = "[ 1584.622990] systemd[1]: api.service: Failed with result 'oom-kill'.\n"
    [event] = feed(SystemdParser(), text)
    assert (event.cause, event.unit, event.uptime_s) == (
        Cause.KERNEL_OOM_UNKNOWN_SCOPE,
        "api.service",
        1584.62299,
    )


def test_a_stop_sigkill_line_without_a_timeout_is_not_a_stop_timeout() -> None:
    text = "x.service: Killing process 12 (x) with signal SIGKILL.\n"
    assert feed(SystemdParser(), text) == []


@given(st.lists(st.text(max_size=120), max_size=20))
def test_arbitrary_lines_never_raise(lines: list[str]) -> None:
    parser = SystemdParser("fuzz")
    for i, line in enumerate(lines, 1):
        for event in parser.feed(i, line):
            assert event.cause in Cause
    list(parser.finish())


@given(
    st.lists(
        st.sampled_from(
            [
                "u.service: State 'stop-sigterm' timed out. Killing.",
                "u.service: Killing process 7 (u) with signal SIGKILL.",
                "u.service: Main process exited, code=killed, status=9/KILL",
                "u.service: A process of this unit has been killed by the OOM killer.",
                "u.service: Failed with result 'oom-kill'.",
                "u.service: systemd-oomd killed 2 process(es) in this unit.",
                "oomd attempting to kill 9 with KILL",
            ]
        ),
        max_size=12,
    )
)
def test_any_order_of_real_lines_keeps_pids_honest(lines: list[str]) -> None:
    events = feed(SystemdParser(), "\n".join(lines))
    for e in events:
        # Only a "Killing process" line after a timeout or an oomd attempt names a pid.
        if e.pid == 9:
            assert e.killed is False
        else:
            assert e.pid in (None, 7)


def _lines(text: str) -> list[KillEvent]:
    parser = SystemdParser("j.log")
    out: list[KillEvent] = []
    for n, line in enumerate(text.splitlines(), 1):
        if parser.wants_context or any(a in line for a in parser.anchors):
            out += parser.feed(n, line)
    return out + list(parser.finish())


def test_oom_notice_repeated_on_parent_slices_is_one_death() -> None:
    t = "2026-01-01T00:00:07.1{}+00:00 h systemd[1]: {}: A process of this unit has been killed by the OOM killer."
    text = "\n".join(
        t.format(i, u)
        for i, u in enumerate(
            ["user-5.slice", "system-db.slice", "user@5.service", "user.slice", "system.slice"]
        )
    )
    assert sorted(e.unit or "" for e in _lines(text)) == ["system-db.slice", "user@5.service"]


def test_sigterm_main_exit_alone_is_not_a_kill() -> None:
    assert _lines("systemd[1]: a.service: Main process exited, code=killed, status=15/TERM\n") == []


def test_sigkill_that_left_the_process_running_is_an_attempt() -> None:
    text = (
        "systemd[1]: n.service: State 'stop-sigterm' timed out. Killing.\n"
        "systemd[1]: n.service: Killing process 7 (n) with signal SIGKILL.\n"
        "systemd[1]: n.service: State 'final-sigterm' timed out. Killing.\n"
        "systemd[1]: n.service: Killing process 7 (n) with signal SIGKILL.\n"
        "systemd[1]: n.service: Processes still around after final SIGKILL. Entering failed mode.\n"
        "systemd[1]: n.service: Failed with result 'timeout'.\n"
    )
    [event] = _lines(text)
    assert (event.cause, event.pid, event.killed) == (Cause.SYSTEMD_STOP_TIMEOUT, 7, False)


def test_debug_child_death_gets_its_unit_and_absorbs_the_main_exit() -> None:
    text = (
        "Child 23 (sh) died (code=killed, status=9/KILL)\n"
        "x.service: Child 23 belongs to x.service.\n"
        "x.service: Main process exited, code=killed, status=9/KILL\n"
    )
    [event] = _lines(text)
    assert (event.cause, event.pid, event.unit, len(event.evidence)) == (
        Cause.SIGKILL_UNKNOWN,
        23,
        "x.service",
        3,
    )


def test_oomd_attempts_confirmed_by_killed_cgroup_and_by_main_exit() -> None:
    text = (
        "Jan 1 00:00:01 h systemd-oomd[9]: oomd attempting to kill 63 with KILL\n"
        "Jan 1 00:00:01 h systemd-oomd[9]: oomd attempting to kill 66 with KILL\n"
        "Jan 1 00:00:01 h systemd-oomd[9]: Killed /a.slice/b.service due to memory pressure\n"
        "Jan 1 00:00:02 h systemd-oomd[9]: oomd attempting to kill 70 with KILL\n"
        "Jan 1 00:00:02 h systemd[1]: c.service: Main process exited, code=killed, status=9/KILL\n"
    )
    got = sorted((e.pid or 0, e.unit, e.killed) for e in _lines(text))
    assert got == [(63, "b.service", True), (66, "b.service", True), (70, "c.service", True)]


def test_oomd_marked_then_confirmed_by_the_unit() -> None:
    text = (
        "systemd-oomd[9]: oomd attempting to kill 407 with KILL\n"
        "systemd-oomd[9]: Marked /system.slice/j.service for killing due to memory pressure\n"
        "systemd[1]: j.service: systemd-oomd killed 1 process(es) in this unit.\n"
    )
    [event] = _lines(text)
    assert (event.cause, event.pid, event.unit, event.killed) == (
        Cause.SYSTEMD_OOMD,
        407,
        "j.service",
        True,
    )


def test_oomd_killed_line_without_reason_or_hostname() -> None:
    [event] = _lines("avril 16 21:08:50 systemd-oomd[93]: Killed /user.slice/app.scope\n")
    assert (event.cause, event.unit, event.killed) == (Cause.SYSTEMD_OOMD, "app.scope", True)


def test_sigkill_list_without_its_timed_out_line() -> None:
    kills = (
        "systemd[1]: t.service: Killing process 11 (t) with signal SIGKILL.\n"
        "systemd[1]: t.service: Killing process 12 (t) with signal SIGKILL.\n"
    )
    timeout = _lines(kills + "systemd[1]: t.service: Failed with result 'timeout'.\n")
    assert [(e.cause, e.pid) for e in timeout] == [
        (Cause.SYSTEMD_STOP_TIMEOUT, 11),
        (Cause.SYSTEMD_STOP_TIMEOUT, 12),
    ]
    assert _lines(kills) == []  # no result: reported as not understood, not guessed
