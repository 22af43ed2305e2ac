"""The log scanner: the same lines with the same numbers, whatever the prefilter, chunking,
line endings or size; binary files refused; memory bounded on a large stream."""

from __future__ import annotations

import gzip
import io
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from killproof.errors import InputError
from killproof.facts.kill import Cause, KillEvent
from killproof.sources import logscan
from killproof.sources.kernel import KernelOomParser
from killproof.sources.logscan import Prefilter, available_prefilters, scan, scan_path
from killproof.sources.prefilter import Tool, find, hits

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernel"

HERE = available_prefilters()
PREFILTERS = [
    pytest.param(
        p, id=p.value, marks=pytest.mark.skipif(p not in HERE, reason=f"{p.value} not installed")
    )
    for p in Prefilter
    if p is not Prefilter.AUTO
]


class Recorder:
    """A LineParser that records what it is fed: 'START' asks for the next 3 lines."""

    anchors: tuple[str, ...] = ("START", "MARK")

    def __init__(self) -> None:
        self.fed: list[tuple[int, str]] = []
        self.remaining = 0

    @property
    def wants_context(self) -> bool:
        return self.remaining > 0

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        self.fed.append((lineno, line))
        if self.remaining:
            self.remaining -= 1
        if "START" in line:
            self.remaining = 3
        if "MARK" in line:
            return [KillEvent(cause=Cause.SIGKILL_UNKNOWN, source="test", pid=lineno)]
        return []

    def finish(self) -> Iterable[KillEvent]:
        return [KillEvent(cause=Cause.SIGKILL_UNKNOWN, source="test", message="end")]


def reference(text: str) -> list[tuple[int, str]]:
    """What a naive line-by-line reader feeds the Recorder."""
    rec = Recorder()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        line = raw.removesuffix("\r")
        if rec.wants_context or any(a in line for a in rec.anchors):
            rec.feed(number, line)
    return rec.fed


def run(
    data: bytes, tmp_path: Path, prefilter: Prefilter
) -> tuple[list[tuple[int, str]], list[KillEvent]]:
    path = tmp_path / "log.txt"
    path.write_bytes(data)
    rec = Recorder()
    events = list(scan_path(path, [rec], prefilter))
    return rec.fed, events


SAMPLE = (
    b"boot\nsomething START here\nctx1\nctx2 MARK\nctx3\nafter\nMARK alone\n"
    b"\n\nlast START\nx\r\ny\n"
)


@pytest.mark.parametrize("prefilter", PREFILTERS)
def test_anchor_and_context_lines_with_their_numbers(tmp_path: Path, prefilter: Prefilter) -> None:
    fed, events = run(SAMPLE, tmp_path, prefilter)
    assert fed == [
        (2, "something START here"),
        (3, "ctx1"),
        (4, "ctx2 MARK"),
        (5, "ctx3"),
        (7, "MARK alone"),
        (10, "last START"),
        (11, "x"),
        (12, "y"),
    ]
    assert [e.pid for e in events] == [4, 7, None]
    assert events[-1].message == "end"  # finish() is called once, last


@pytest.mark.parametrize("chunk", [1, 2, 5, 7, 64])
def test_chunk_boundaries_do_not_move_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(logscan, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(logscan, "PROBE_BYTES", chunk)
    fed, _ = run(SAMPLE, tmp_path, Prefilter.PYTHON)
    assert fed == reference(SAMPLE.decode())


def test_last_line_without_newline(tmp_path: Path) -> None:
    for prefilter in HERE:
        fed, _ = run(b"a\nb\nMARK end", tmp_path, prefilter)
        assert fed == [(3, "MARK end")]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    fed, _ = run(b"x\n\xff\xfe MARK \xc3\n", tmp_path, Prefilter.PYTHON)
    assert fed == [(2, "\ufffd\ufffd MARK \ufffd")]


def test_over_long_line_is_cut_and_numbers_stay_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logscan, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(logscan, "CHUNK_BYTES", 64)
    monkeypatch.setattr(logscan, "PROBE_BYTES", 64)
    data = b"MARK " + b"y" * 1000 + b"\nnext\nMARK three\n"
    fed, _ = run(data, tmp_path, Prefilter.PYTHON)
    assert [n for n, _ in fed] == [1, 3]
    assert fed[0][1].startswith("MARK yyy") and len(fed[0][1]) <= 100
    assert fed[1] == (3, "MARK three")


def test_binary_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "system.journal"
    path.write_bytes(b"LPKSHHRH\x00\x00\x01\x00" + b"Killed process 1 (x)\n" * 10)
    with pytest.raises(InputError) as err:
        list(scan_path(path, [KernelOomParser()]))
    assert err.value.path == str(path)
    assert "binary file, not a log" in str(err.value)


def test_unreadable_inputs_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        list(scan_path(tmp_path / "missing.log", [KernelOomParser()]))
    with pytest.raises(InputError, match="directory"):
        list(scan_path(tmp_path, [KernelOomParser()]))
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputError, match=str(bad)):
        list(scan_path(bad, [KernelOomParser()]))


def test_gzip_log_is_read_through(tmp_path: Path) -> None:
    source = FIXTURES / "6.1-two-kills-one-second.log"
    packed = tmp_path / "kern.log.2.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    events = list(scan_path(packed, [KernelOomParser(str(packed))]))
    assert [e.pid for e in events] == [4410, 4420]
    assert events[0].evidence[0].path == str(packed)


def test_a_pipe_is_scanned_in_process() -> None:
    data = (FIXTURES / "rhel7-3.10-memcg.log").read_bytes()
    [event] = scan(io.BytesIO(data), "<stdin>", [KernelOomParser("<stdin>")], Prefilter.AUTO)
    assert (event.pid, event.limit_kb) == (8800, 524288)
    for external in (Prefilter.GREP, Prefilter.RIPGREP):
        with pytest.raises(InputError, match="prefilter needs that tool and a regular file"):
            list(scan(io.BytesIO(data), "<stdin>", [KernelOomParser()], external))


def test_crlf_kernel_log(tmp_path: Path) -> None:
    text = (FIXTURES / "5.4-short-iso-memcg.log").read_text().replace("\n", "\r\n")
    path = tmp_path / "crlf.log"
    path.write_bytes(text.encode())
    for prefilter in HERE:
        [event] = list(scan_path(path, [KernelOomParser()], prefilter))
        assert (event.pid, event.oom_score_adj, event.host) == (44100, 999, "k8s-node-2")
        assert not event.evidence[-1].text.endswith("\r")


LINE = st.one_of(
    st.sampled_from(["START", "MARK", "a START b", "xMARKx", "", "plain", "\r", "é"]),
    st.text(alphabet="abc STARMK\r\t", max_size=12),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(LINE, max_size=40), chunk=st.integers(1, 40), end=st.booleans())
def test_python_scan_matches_the_naive_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], chunk: int, end: bool
) -> None:
    monkeypatch.setattr(logscan, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(logscan, "PROBE_BYTES", chunk)
    text = "\n".join(lines) + ("\n" if end and lines else "")
    fed, _ = run(text.encode(), tmp_path, Prefilter.PYTHON)
    assert fed == reference(text)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(LINE, max_size=40))
def test_external_scans_match_the_naive_reader(tmp_path: Path, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    for prefilter in HERE:
        fed, _ = run(text.encode(), tmp_path, prefilter)
        assert fed == reference(text), prefilter


class GeneratedLog(io.RawIOBase):
    """A read-only stream of ``size`` bytes of journal lines with an OOM report every ``every``."""

    def __init__(self, size: int, report: bytes, every: int) -> None:
        filler = b"May 07 21:43:54 web-3 systemd[1]: Started session-42.scope - Session 42.\n"
        block = filler * (every // len(filler)) + report
        self._blocks: Iterator[bytes] = iter([block] * (size // len(block)))
        self._buffer = b""
        self.reports = size // len(block)

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while len(self._buffer) < len(target):
            more = next(self._blocks, b"")
            if not more:
                break
            self._buffer += more
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


@pytest.mark.slow
def test_200mb_stream_in_bounded_memory() -> None:
    report = (FIXTURES / "5.4-short-iso-memcg.log").read_bytes()
    stream = GeneratedLog(200 << 20, report, every=8 << 20)
    tracemalloc.start()
    try:
        count = 0
        for event in scan(io.BufferedReader(stream, 1 << 20), "big", [KernelOomParser("big")]):
            assert event.pid == 44100
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == stream.reports > 20
    assert peak < 48 << 20, peak  # a few chunks, not the 200 MB


@pytest.mark.parametrize("tool", [Tool.GREP, Tool.RIPGREP])
def test_searcher_failure_names_the_file(tmp_path: Path, tool: Tool) -> None:
    search = find(tool)
    if search is None:
        pytest.skip(f"{tool.value} not installed")
    missing = str(tmp_path / "gone.log")
    with pytest.raises(InputError, match=f"{tool.value} failed") as err:
        list(hits(search, ["Killed process"], missing))
    assert err.value.path == missing


@pytest.mark.parametrize("prefilter", PREFILTERS)
def test_reader_may_stop_early(tmp_path: Path, prefilter: Prefilter) -> None:
    path = tmp_path / "many.log"
    path.write_text("MARK\n" * 200_000)
    rec = Recorder()
    events = scan_path(path, [rec], prefilter)
    assert next(iter(events)).pid == 1
    events.close()  # type: ignore[attr-defined]  # a generator: stops the searcher
    assert rec.fed[0] == (1, "MARK")


def test_a_decompressing_reader_is_never_handed_to_grep_under_its_file_name(
    tmp_path: Path,
) -> None:
    # A GzipFile has the compressed file's name and seeks: grep would read the wrong bytes.
    packed = tmp_path / "kern.log.gz"
    packed.write_bytes(gzip.compress(b"[ 1.0] Killed process 1 (x)\n"))
    with (
        packed.open("rb") as raw,
        gzip.GzipFile(fileobj=raw) as unpacked,
        pytest.raises(InputError, match="needs that tool and a regular file"),
    ):
        list(scan(unpacked, str(packed), [KernelOomParser()], Prefilter.GREP))  # type: ignore[arg-type]
