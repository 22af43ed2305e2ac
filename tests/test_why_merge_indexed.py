"""The indexed merge groups exactly as the pairwise one did, and in time near-linear.

``merge`` compares an observation only with the groups an index says it may tie to, and
with one member per distinct identity; the pairwise merge it replaced (every observation
against every member of every group) is kept here as the reference.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.facts.kill import Cause, KillEvent
from killproof.why.merge import _NAMELESS_JOINS, _WEAK, combine, contradicts, merge, ties


def _named(e: KillEvent) -> bool:
    return bool(
        e.pid is not None
        or e.selected_pid is not None
        or e.process
        or e.pod
        or e.unit
        or e.oom_memcg
        or e.task_memcg
    )


def _path(e: KillEvent) -> str:
    return e.evidence[0].path if e.evidence else ""


def pairwise_merge(observations: Iterable[KillEvent]) -> list[KillEvent]:
    """The previous merge, verbatim."""
    groups: list[list[KillEvent]] = []
    weak: list[KillEvent] = []
    nameless: list[KillEvent] = []
    for obs in observations:
        if obs.cause in _WEAK:
            weak.append(obs)
            continue
        if obs.cause in _NAMELESS_JOINS and not _named(obs):
            nameless.append(obs)
            continue
        for group in groups:
            if all(not contradicts(obs, g) for g in group) and any(ties(obs, g) for g in group):
                group.append(obs)
                break
        else:
            groups.append([obs])
    # Added with the nameless rule: a victimless eviction/liveness observation joins the
    # one other group of its cause in its input.
    for obs in nameless:
        path = _path(obs)
        same = [g for g in groups if g[0].cause is obs.cause and _path(g[0]) == path]
        if len(same) == 1 and all(not contradicts(obs, e) for e in same[0]):
            same[0].append(obs)
        else:
            groups.append([obs])
    for obs in weak:
        candidates = [g for g in groups if all(not contradicts(obs, e) for e in g)]
        tied = [g for g in candidates if any(ties(obs, e) for e in g)]
        if len(tied) == 1:
            tied[0].append(obs)
        elif not tied and len(groups) == 1 and candidates:
            groups[0].append(obs)
        else:
            groups.append([obs])
    return [combine(g) for g in groups]


PATHS = ["/kubepods/poda/c1", "/kubepods/podb/c2", "/system.slice/orders.service", "/"]
events = st.builds(
    KillEvent,
    cause=st.sampled_from(list(Cause)),
    source=st.sampled_from(["kernel", "k8s-pod", "shell", "systemd"]),
    killed=st.booleans(),
    pid=st.one_of(st.none(), st.integers(1, 4)),
    process=st.one_of(st.none(), st.sampled_from(["orders", "/bin/orders --x", "api", " "])),
    pod=st.one_of(st.none(), st.sampled_from(["poda", "podb", "c1"])),
    container=st.one_of(st.none(), st.sampled_from(["c1", "c2"])),
    unit=st.one_of(st.none(), st.sampled_from(["orders.service", "api.service"])),
    host=st.one_of(st.none(), st.sampled_from(["n1", "n2"])),
    oom_memcg=st.one_of(st.none(), st.sampled_from(PATHS)),
    task_memcg=st.one_of(st.none(), st.sampled_from(PATHS)),
    epoch_s=st.one_of(st.none(), st.sampled_from([1000.0, 1100.0, 2000.0])),
    uptime_s=st.one_of(st.none(), st.sampled_from([5.0, 6.0, 900.0])),
)


@settings(max_examples=800, deadline=None)
@given(st.lists(events, max_size=14))
def test_indexed_merge_groups_as_the_pairwise_merge(observations: list[KillEvent]) -> None:
    assert merge(observations) == pairwise_merge(observations)


def test_a_whitespace_process_name_does_not_crash_the_merge() -> None:
    # was: IndexError in _same_process_name (" ".split()[0])
    one = KillEvent(cause=Cause.KERNEL_OOM_MEMCG, source="kernel", pid=1, process=" ")
    two = KillEvent(cause=Cause.KERNEL_OOM_MEMCG, source="kernel", pid=2, process="orders")
    assert [e.pid for e in merge([one, two])] == [1, 2]


def test_many_distinct_kills_of_one_process_name_merge_fast() -> None:
    # 10,000 kills of "app" with distinct pids: each tie candidate by name is ruled out by
    # its pid through the index (the pairwise merge took minutes here).
    kills = [
        KillEvent(cause=Cause.KERNEL_OOM_MEMCG, source="kernel", pid=i, process="app")
        for i in range(1, 10_001)
    ]
    shells = [KillEvent(cause=Cause.SIGKILL_UNKNOWN, source="shell") for _ in range(10_000)]
    merged = merge(kills + shells)
    assert [e.pid for e in merged[:3]] == [1, 2, 3]
    assert len(merged) == 20_000  # no shell line can say which of the kills it saw
