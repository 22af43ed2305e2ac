"""Property tests: ``why``'s input reading and merging never crash and never invent deaths."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from killproof.errors import InputError
from killproof.facts.kill import Cause, KillEvent
from killproof.sources.oomd import OomdParser
from killproof.why.merge import merge
from killproof.why.run import read_stream

REAL = (Path(__file__).resolve().parent / "fixtures" / "why" / "orders-oom.log").read_bytes()


def read(data: bytes) -> list[KillEvent]:
    try:
        return list(read_stream(io.BytesIO(data), "fuzz.log"))
    except InputError as exc:
        assert exc.path == "fuzz.log" and exc.message
        return []


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    read(data)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(REAL) - 1), st.binary(min_size=0, max_size=8)),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_real_kernel_log_never_raises(edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(REAL)
    for pos, junk in edits:
        data[pos : pos + len(junk)] = junk
    for event in read(bytes(data)):
        # Whatever survives the mutation, the invoking thread is never named the victim.
        assert event.pid != 24653


@given(st.lists(st.text(max_size=120), max_size=30))
def test_oomd_parser_takes_any_lines(lines: list[str]) -> None:
    parser = OomdParser("x")
    for n, line in enumerate(lines, 1):
        list(parser.feed(n, line))
    list(parser.finish())


_events = st.builds(
    KillEvent,
    cause=st.sampled_from(list(Cause)),
    source=st.sampled_from(["kernel", "k8s-pod", "shell", "systemd"]),
    killed=st.booleans(),
    pid=st.one_of(st.none(), st.integers(1, 6)),
    process=st.one_of(st.none(), st.sampled_from(["orders", "api", "orders-leak"])),
    pod=st.one_of(st.none(), st.sampled_from(["a", "b"])),
)


@given(st.lists(_events, max_size=12))
def test_merge_never_joins_two_victims_and_never_loses_a_kill(events: list[KillEvent]) -> None:
    merged = merge(events)
    assert len(merged) <= len(events)
    # Every pid that was killed is still some event's victim, and no event has two pids.
    killed_pids = {e.pid for e in events if e.pid is not None}
    assert killed_pids <= {e.pid for e in merged}
    assert len(merged) >= len(killed_pids)
