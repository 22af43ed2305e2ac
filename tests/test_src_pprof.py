"""pprof decoding against a real Go program's profiles, and against broken payloads."""

from __future__ import annotations

import gzip
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.sources import pprof, profile_pb2
from killproof.sources.goroutines import (
    GoroutineDump,
    parse_goroutine_text,
    parse_goroutine_traceback,
)
from killproof.sources.pprof import HeapProfile, ProfileError, decode_heap_profile

FIXTURE = Path(__file__).parent / "fixtures" / "pprof"
SOURCE = (FIXTURE / "main.go").read_text()


def line_of(snippet: str) -> int:
    """1-based line of ``snippet`` in the fixture's main.go."""
    return next(i for i, text in enumerate(SOURCE.splitlines(), 1) if snippet in text)


@dataclass(frozen=True)
class Subject:
    proc: subprocess.Popen[bytes]
    base: str

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            body: bytes = response.read()
            return body


def start_subject(binary: Path) -> Subject:
    proc = subprocess.Popen(
        [str(binary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("LISTENING "), line
    return Subject(proc, f"http://127.0.0.1:{int(line.split()[1])}")


@pytest.fixture(scope="module")
def subject(go_build: Callable[[Path], Path]) -> Iterator[Subject]:
    running = start_subject(go_build(FIXTURE))
    yield running
    running.proc.kill()
    running.proc.wait()


@pytest.fixture(scope="module")
def heap_bytes(subject: Subject) -> bytes:
    return subject.get("/debug/pprof/heap?gc=1")


def test_top_inuse_site_is_the_hoarding_function(heap_bytes: bytes) -> None:
    profile = decode_heap_profile(heap_bytes)
    assert isinstance(profile, HeapProfile), profile
    assert ("inuse_space", "bytes") in profile.sample_types
    top = profile.top_sites("inuse_space", 3)
    assert top[0].function == "main.hoardOrders"
    assert top[0].file.endswith("tests/fixtures/pprof/main.go")
    assert top[0].line == line_of("b := make([]byte, 1<<20)")
    assert top[0].bytes == 48 << 20  # 48 MiB kept live, every allocation recorded
    assert top[0].objects == 48
    assert top[0].share > 0.8
    assert top[0].stack[0].function == "main.hoardOrders"
    assert any(f.function == "main.main" for f in top[0].stack)
    alloc = profile.top_sites("alloc_space", 1)
    assert alloc[0].function == "main.hoardOrders"
    assert profile.total("inuse_space") >= top[0].bytes
    assert profile.top_sites("no_such_type") == ()


def test_raw_uncompressed_protobuf_decodes_too(heap_bytes: bytes) -> None:
    profile = decode_heap_profile(gzip.decompress(heap_bytes))
    assert isinstance(profile, HeapProfile)
    assert profile.top_sites()[0].function == "main.hoardOrders"


def test_goroutine_debug1_counts_the_parked_workers(subject: Subject) -> None:
    dump = parse_goroutine_text(subject.get("/debug/pprof/goroutine?debug=1").decode())
    assert isinstance(dump, GoroutineDump), dump
    top = dump.top_stacks(1)[0]
    assert top.count == 30
    assert top.frames[0].function == "main.parkWorker"
    assert top.frames[0].line == line_of("\t<-ch")
    assert dump.total == sum(s.count for s in dump.stacks)
    assert dump.total >= 31


def test_goroutine_debug2_groups_by_state_and_stack(subject: Subject) -> None:
    dump = parse_goroutine_traceback(subject.get("/debug/pprof/goroutine?debug=2").decode())
    assert isinstance(dump, GoroutineDump), dump
    top = dump.top_stacks(1)[0]
    assert (top.count, top.state) == (30, "chan receive")
    assert top.frames[0].function == "main.parkWorker"
    assert top.frames[0].line == line_of("\t<-ch")
    assert top.frames[-1].function.startswith("created by main.main")


def test_sigquit_dump_shows_where_goroutines_wait(go_build: Callable[[Path], Path]) -> None:
    running = start_subject(go_build(FIXTURE))
    running.proc.send_signal(signal.SIGQUIT)
    _, stderr = running.proc.communicate(timeout=20)
    assert running.proc.returncode == 2  # Go's exit status after a SIGQUIT dump
    dump = parse_goroutine_traceback(stderr.decode(errors="replace"))
    assert isinstance(dump, GoroutineDump), dump
    parked = [s for s in dump.stacks if s.where and s.where.function == "main.parkWorker"]
    assert sum(s.count for s in parked) == 30
    assert {s.state for s in parked} == {"chan receive"}
    assert parked[0].frames[0].function == "runtime.gopark"  # SIGQUIT shows runtime frames
    assert parked[0].where is not None and parked[0].where.line == line_of("\t<-ch")


def test_every_truncation_of_a_real_profile_is_an_error_value(heap_bytes: bytes) -> None:
    for cut in range(0, len(heap_bytes) - 1, max(1, len(heap_bytes) // 97)):
        result = decode_heap_profile(heap_bytes[:cut])
        assert isinstance(result, ProfileError), cut
    raw = gzip.decompress(heap_bytes)
    errors = sum(isinstance(decode_heap_profile(raw[:cut]), ProfileError) for cut in range(1, 200))
    assert errors > 150  # most cuts land mid-field; some end on a field boundary and parse


def test_gzip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pprof, "MAX_PROFILE_BYTES", 1000)
    result = decode_heap_profile(gzip.compress(b"\0" * 5000))
    assert isinstance(result, ProfileError)
    assert "inflates past 1000 bytes" in result.reason


def _profile(**broken: bool) -> bytes:
    message = profile_pb2.Profile()
    message.string_table.extend(["", "inuse_space", "bytes", "main.f", "f.go"])
    message.sample_type.add(type=1, unit=2)
    message.function.add(id=1, name=3, filename=4)
    loc = message.location.add(id=1)
    loc.line.add(function_id=9 if broken.get("function") else 1, line=7)
    sample = message.sample.add(value=[100, 5] if broken.get("values") else [100])
    sample.location_id.append(2 if broken.get("location") else 1)
    if broken.get("strings"):
        message.sample_type.add(type=99, unit=2)
    return gzip.compress(message.SerializeToString())


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ("function", "unknown function"),
        ("location", "unknown location 2"),
        ("values", "value count differs"),
        ("strings", "outside the string table"),
    ],
)
def test_inconsistent_profiles_are_error_values(broken: str, reason: str) -> None:
    assert isinstance(decode_heap_profile(_profile()), HeapProfile)
    result = decode_heap_profile(_profile(**{broken: True}))
    assert isinstance(result, ProfileError)
    assert reason in result.reason


def test_minimal_profile_names_its_site() -> None:
    profile = decode_heap_profile(_profile())
    assert isinstance(profile, HeapProfile)
    site = profile.top_sites()[0]
    assert (site.function, site.file, site.line, site.bytes, site.share) == (
        "main.f",
        "f.go",
        7,
        100,
        1.0,
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_decode_never_raises_on_garbage(payload: bytes) -> None:
    result = decode_heap_profile(payload)
    assert isinstance(result, HeapProfile | ProfileError)
    gz = decode_heap_profile(b"\x1f\x8b" + payload)
    assert isinstance(gz, HeapProfile | ProfileError)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_goroutine_parsers_never_raise(text: str) -> None:
    assert isinstance(parse_goroutine_text(text), GoroutineDump | ProfileError)
    assert isinstance(parse_goroutine_traceback(text), GoroutineDump | ProfileError)
    assert isinstance(
        parse_goroutine_text("goroutine profile: total 3\n" + text), GoroutineDump | ProfileError
    )


names = st.from_regex(r"[a-z]{1,8}\.[A-Za-z]{1,10}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 10_000), st.lists(names, min_size=1, max_size=4)), max_size=8)
)
def test_debug1_round_trip(stacks: list[tuple[int, list[str]]]) -> None:
    """Text written the way runtime/pprof writes it parses back to the same counts."""
    total = sum(count for count, _ in stacks)
    blocks = [f"goroutine profile: total {total}"]
    for count, functions in stacks:
        blocks.append(f"{count} @ 0x4a0001 0x4a0002")
        blocks.extend(
            f"#\t0x4a0001\t{fn}+0x1f\t/src/app/{fn}.go:{i + 1}" for i, fn in enumerate(functions)
        )
        blocks.append("")
    dump = parse_goroutine_text("\n".join(blocks) + "\n")
    assert isinstance(dump, GoroutineDump), dump
    assert dump.total == total
    assert sorted(s.count for s in dump.stacks) == sorted(c for c, _ in stacks)
    assert sorted(tuple(f.function for f in s.frames) for s in dump.stacks) == sorted(
        tuple(fns) for _, fns in stacks
    )


def test_debug1_without_header_or_with_junk_is_an_error() -> None:
    assert isinstance(parse_goroutine_text(""), ProfileError)
    assert isinstance(parse_goroutine_text("3 @ 0x1\n"), ProfileError)
    result = parse_goroutine_text("goroutine profile: total 1\n1 @ 0x1\nnonsense here\n")
    assert isinstance(result, ProfileError)
    assert "line 3" in result.reason
