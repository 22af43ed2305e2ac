"""``why`` reads a line in time linear in its length, whatever the line (up to 1 MiB).

Property tests pump real evidence lines (a character or a piece of the line repeated at
any place, a prefix repeated, a run cut short) up to 1 MiB and feed them to every line
parser and per-line reader, each call under a time budget: a regex that backtracks
(quadratic or worse) overruns it. Explicit 1 MiB adversarial lines per anchor word go
through the CLI under a budget too.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budget import run_cli
from killproof.facts.kill import MAX_EVIDENCE_CHARS, KillEvent
from killproof.sources import journal, k8s, k8s_messages, logwrap
from killproof.sources import kernel_lines as kl
from killproof.sources.k8s_loose import LooseK8sParser
from killproof.sources.k8s_messages import EventRecord
from killproof.sources.k8s_text import DescribeParser, EventTableParser
from killproof.sources.kernel import KernelOomParser
from killproof.sources.killwords import looks_like_kill
from killproof.why.run import line_parsers

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MIB = 1 << 20
CALL_BUDGET_S = 3.0
"""Wall time one reader may take on one line of at most 1 MiB (linear takes ~0.05 s)."""


def _real_lines() -> list[str]:
    lines: set[str] = set()
    for folder in ("kernel", "evidence", "why"):
        for path in sorted((FIXTURES / folder).iterdir()):
            if path.is_file() and path.suffix in (".log", ".txt", ".journal", ".syslog"):
                lines.update(x for x in path.read_text(errors="replace").splitlines() if x)
    # formats without a fixture file
    lines.update(
        [
            "Trying to kill /sys/fs/cgroup/system.slice/orders.service",
            "Killed 2: 4242(orders) 4243(orders)[E3]",
            "oomd kill: 0.52 0.40 0.31 system.slice/orders.service 734003200 ruleset:[protect] "
            "detectorgroup:[pressure] killer:kill_by_memory_size_or_growth v2",
            "6,1234,5678901,-;Out of memory: Killed process 4242 (orders) total-vm:1kB",
            "kern  :err   : [ 1584.622990] Memory cgroup out of memory: Killed process 1 (x)",
            "[1]  + 4242 killed     ./orders",
            "Killing process 5874 (bash)",
            "System OOM encountered, victim process: orders, pid: 4187",
            "Container orders was using 1830740Ki, request is 512Mi, has larger consumption "
            "of memory. ",
            "Liveness probe failed: HTTP probe failed with statuscode: 500",
            "Container orders failed liveness probe, will be restarted; grace period 30s",
            "Tasks in /system.slice/app.service are going to be killed due to memory.oom.group set",
            "Task in /a killed as a result of limit of /a",
            "oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/a,task_memcg=/a,task=x,pid=1,uid=0",
            "memory: usage 524288kB, limit 524288kB, failcnt 4107",
        ]
    )
    return sorted(lines)


REAL = _real_lines()
TOKENS = [" ", "\t", "a", "1", "(", ")", ":", ",", "=", "-", ".", "/", '"', "'", "[", "]", "{"]
TOKENS += ["x ", ") ", " (", "kB", "a:1 ", ", ", "é", "\ufffd", "UID 1,", "Killed ", "oom-kill:"]
COLUMNS = ("uid", "tgid", "total_vm", "rss", "pgtables_bytes", "swapents", "oom_score_adj", "name")


def _event_reasons() -> list[str]:
    return [
        "Killing",
        "Unhealthy",
        "Evicted",
        "EvictionThresholdMet",
        "OOMKilling",
        "SystemOOM",
        "CgroupOOM",
    ]


def _event_reader(reason: str) -> Callable[[str], object]:
    """A Kubernetes event of ``reason`` whose message is the line."""

    def read(line: str) -> object:
        record = EventRecord(reason=reason, message=line, source="k8s-events")
        return k8s_messages.events_from_record(record)

    return read


def _fed(parser_factory: Callable[[], object], preamble: list[str]) -> Callable[[str], object]:
    """A reader that feeds a fresh parser ``preamble`` (to put it inside a record) then the
    line, and finishes it."""

    def read(line: str) -> object:
        parser = parser_factory()
        out: list[KillEvent] = []
        for n, text in enumerate([*preamble, line], 1):
            out += parser.feed(n, text)  # type: ignore[attr-defined]
        out += parser.finish()  # type: ignore[attr-defined]
        assert all(isinstance(e, KillEvent) for e in out)
        return out

    return read


def _readers() -> dict[str, Callable[[str], object]]:
    readers: dict[str, Callable[[str], object]] = {}
    for parser in line_parsers("x"):
        kind = type(parser)
        readers[kind.__name__] = _fed(lambda kind=kind: kind("x"), [])  # type: ignore[misc]
    head = "[ 1.0] x invoked oom-killer: gfp_mask=0x0, order=0, oom_score_adj=0"
    victim = "[ 1.1] Memory cgroup out of memory: Killed process 12 (x) total-vm:1kB, anon-rss:2"
    readers["kernel-in-report"] = _fed(lambda: KernelOomParser("x"), [head])
    readers["kernel-after-victim"] = _fed(lambda: KernelOomParser("x"), [head, victim])
    describe = ["Name: p", "Namespace: n", "Containers:", "  c:", "    State: Terminated"]
    readers["describe-in-state"] = _fed(lambda: DescribeParser("x"), describe)
    events = ["Name: p", "Namespace: n", "Events:", "  Type  Reason  Age  From  Message"]
    readers["describe-events"] = _fed(lambda: DescribeParser("x"), events)
    table = ["LAST SEEN   TYPE      REASON      OBJECT      MESSAGE"]
    readers["event-table-row"] = _fed(lambda: EventTableParser("x"), table)
    for name, opening in (
        ("brace", ['"State": {']),
        ("yaml", ["  terminated:"]),
        ("describe", ["State:  Terminated"]),
        ("eviction", ["The node was low on resource: memory."]),
    ):
        readers[f"loose-in-{name}"] = _fed(lambda: LooseK8sParser("x"), opening)
    readers["looks_like_kill"] = looks_like_kill
    readers["unwrap"] = logwrap.unwrap
    readers["split_journal_line"] = journal.split_journal_line
    for name in ("header", "invoker", "killed", "selected", "summary", "usage", "task_in"):
        readers[f"kl.{name}"] = getattr(kl, name)
    for name in ("stats_for", "group", "reaped", "table_columns"):
        readers[f"kl.{name}"] = getattr(kl, name)
    readers["kl.usage-memsw"] = lambda t: kl.usage(t, "memory+swap")
    readers["kl.table_row"] = lambda t: kl.table_row(t, None)
    readers["kl.table_row-columns"] = lambda t: kl.table_row(t, COLUMNS)
    for reason in _event_reasons():
        readers[f"event:{reason}"] = _event_reader(reason)
    readers["eviction_message"] = k8s_messages.parse_eviction_message
    readers["epoch_of"] = k8s_messages.epoch_of
    readers["quantity_kb"] = k8s_messages.quantity_kb
    readers["container_of_field_path"] = k8s_messages.container_of_field_path
    readers["looks_like_json_document"] = k8s.looks_like_json_document
    readers["looks_like_yaml_document"] = k8s.looks_like_yaml_document
    return readers


READERS = _readers()


class Overrun(Exception):
    """A reader took longer than its budget."""


@contextmanager
def budget(seconds: float, what: str) -> Iterator[None]:
    """Interrupt the block after ``seconds`` of wall time (the regex engine checks signals)."""

    def _alarm(signum: int, frame: FrameType | None) -> None:
        raise Overrun(f"{what} took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def long_lines(draw: st.DrawFn) -> str:
    """A real line pumped to up to 1 MiB where a backtracking pattern would hurt most."""
    base = draw(st.sampled_from(REAL))
    cut = draw(st.integers(0, len(base)))
    size = draw(st.sampled_from([4 << 10, 64 << 10, MIB]))
    piece = base[max(0, cut - draw(st.integers(1, 40))) : cut]
    token = draw(
        st.one_of(st.sampled_from(TOKENS), st.just(piece or "a"), st.text(min_size=1, max_size=3))
    )
    token = token.replace("\n", " ").replace("\r", " ")
    times = max(1, size // len(token))
    shape = draw(st.sampled_from(["run", "cut-run", "repeat", "repeat-line"]))
    if shape == "run":
        return base[:cut] + token * times + base[cut:]
    if shape == "cut-run":
        return base[:cut] + token * times + "\x01"
    if shape == "repeat":
        return (base[:cut] + token) * max(1, size // (cut + len(token)))
    return (base + token) * max(1, size // (len(base) + len(token)))


@settings(
    max_examples=40,
    deadline=None,  # each call has its own interrupting budget (see budget())
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(line=long_lines())
def test_every_line_reader_is_linear_on_lines_up_to_1_mib(line: str) -> None:
    assert len(line) <= 2 * MIB
    for name, read in READERS.items():
        with budget(CALL_BUDGET_S, f"{name} on a {len(line)}-character line"):
            read(line)


def test_the_budget_catches_a_backtracking_pattern() -> None:
    # The old victim-line tail check, quadratic in a run of blanks: the harness must see it.
    import re

    old = re.compile(r"\s*(?:,?\s*UID \d+,\s*)?(?:total-vm:|\.?\s*$)")
    with pytest.raises(Overrun), budget(0.5, "the old pattern"):
        old.match(" " * (256 << 10) + "x")


# -- through the CLI: 1 MiB adversarial lines for each anchor word -------------------------

ANCHORS = [
    "Killed process",
    "Killed process 1 (",
    "Killed",
    "Terminated",
    "Out of memory",
    "Out of memory: Kill process 1 (",
    "oom-kill:",
    "oom-kill:task=",
    "OOMKilled",
    "invoked oom-killer:",
    "oom_reaper: reaped process 1 (",
    "Tasks in ",
    "Task in ",
    "Killing process 1 (",
    "Killing process '",
    'sending SIGKILL to process 1 uid 1 "',
    "line 1: 1 Killed ",
    "[1]+ Killed ",
    "zsh: killed ",
    "signal: killed",
    "a: exit status 137",
    "System OOM encountered, victim process: ",
    "Killed 1: 1(",
    "oomd kill: 1 1 1 a 1 ruleset:[",
    "Name:",
    "LAST SEEN",
]


def _adversarial(anchor: str) -> Iterator[str]:
    """1 MiB lines built from ``anchor``: repeated, followed by a long run that fails at the
    end, and interleaved with a character that patterns treat specially."""
    yield anchor * (MIB // len(anchor))
    for fill in (" ", "a", "("):
        yield anchor + fill * (MIB - len(anchor)) + "\x01"
    yield (anchor + ")") * (MIB // (len(anchor) + 1))


@pytest.mark.parametrize("anchor", ANCHORS)
def test_1_mib_adversarial_lines_per_anchor_word(tmp_path: Path, anchor: str) -> None:
    log = tmp_path / "adversarial.log"
    log.write_text("\n".join(_adversarial(anchor)) + "\n")
    # Before: 10 s at 20 KB and over 120 s at 100 KB per line; now well under a second.
    out = run_cli(["why", log, "--format", "json"], seconds=15, mib=1024)
    assert out.code in (0, 1), out.stderr
    report = json.loads(out.stdout)
    # The report stays small: nothing quoted from a line is longer than the cut.
    for event in report["events"]:
        for evidence in event["evidence"]:
            assert len(evidence["text"]) <= MAX_EVIDENCE_CHARS + 1
            assert evidence["path"] == str(log)
    assert len(out.stdout) < MIB
