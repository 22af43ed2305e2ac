"""The drill's parsers: sizes, CPUs, signals, cgroup files, /metrics, goroutine counts,
probes, scenarios — exact values on real shapes, and never a crash on junk."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killproof.drill.cgroup import CgroupVersion, parse_flat_keyed, read_memory, swap_enabled
from killproof.drill.quantity import parse_bytes, parse_cpus, parse_signal
from killproof.drill.ready import ProbeKind, parse_probe
from killproof.drill.run import last_words
from killproof.drill.sampler import parse_goroutine_count, parse_metrics
from killproof.drill.sandbox import scope_dir_of
from killproof.drill.scenario import parse_scenario
from killproof.drill.setup import _env_pairs
from killproof.drill.shutdown import extract_goroutine_dump
from killproof.errors import InputError
from killproof.facts.drill import SandboxKind
from killproof.sources.deploy.quantity import format_bytes

# -- sizes, cpus, signals --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64Mi", 64 << 20),
        ("128M", 128_000_000),
        ("1Gi", 1 << 30),
        ("1.5Gi", 3 << 29),
        ("512Ki", 512 << 10),
        ("67108864", 67108864),
        ("1e3", 1000),
    ],
)
def test_parse_bytes_kubernetes_quantities(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "64 MB", "Mi", "-1Mi", "100m", "12XB", "1e400"])
def test_parse_bytes_rejects_with_the_text(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_bytes(text)
    assert repr(text) in str(info.value)


@given(st.integers(min_value=1, max_value=1 << 40))
def test_format_bytes_round_trips(n: int) -> None:
    assert parse_bytes(format_bytes(n)) == n


@given(st.text(max_size=20))
def test_parse_bytes_never_crashes(text: str) -> None:
    with contextlib.suppress(InputError):
        assert parse_bytes(text) >= 0


def test_parse_cpus_and_signals() -> None:
    assert parse_cpus("500m") == 0.5
    assert parse_cpus("2") == 2.0
    assert parse_signal("TERM") is signal.SIGTERM
    assert parse_signal("SIGINT") is signal.SIGINT
    assert parse_signal("15") is signal.SIGTERM
    for bad in ("0", "nan", "-1"):
        with pytest.raises(InputError):
            parse_cpus(bad)
    with pytest.raises(InputError):
        parse_signal("SIGNOPE")


# -- cgroup files ----------------------------------------------------------------------


def test_read_memory_v2_from_its_files(tmp_path: Path) -> None:
    (tmp_path / "memory.current").write_text("1048576\n")
    (tmp_path / "memory.max").write_text("67108864\n")
    (tmp_path / "memory.events").write_text(
        "low 0\nhigh 0\nmax 412\noom 2\noom_kill 1\noom_group_kill 0\n"
    )
    state = read_memory(tmp_path, CgroupVersion.V2)
    assert (state.usage_bytes, state.limit_bytes, state.failcnt, state.oom, state.oom_kill) == (
        1048576,
        67108864,
        412,
        2,
        1,
    )


def test_read_memory_v1_from_its_files(tmp_path: Path) -> None:
    (tmp_path / "memory.usage_in_bytes").write_text("66977792\n")
    (tmp_path / "memory.limit_in_bytes").write_text("67108864\n")
    (tmp_path / "memory.failcnt").write_text("41000\n")
    (tmp_path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    state = read_memory(tmp_path, CgroupVersion.V1)
    assert (state.usage_bytes, state.failcnt, state.oom_kill) == (66977792, 41000, 3)


def test_v1_failcnt_takes_the_memsw_counter_when_that_is_the_one_hit(tmp_path: Path) -> None:
    (tmp_path / "memory.failcnt").write_text("0\n")
    (tmp_path / "memory.memsw.failcnt").write_text("57\n")
    assert read_memory(tmp_path, CgroupVersion.V1).failcnt == 57


def test_systemd_scope_cgroup_from_proc_cgroup() -> None:
    text = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/killproof-drill-7-0.scope\n"
    assert scope_dir_of(text, "killproof-drill-7-0.scope") == Path(
        "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/"
        "killproof-drill-7-0.scope"
    )
    assert scope_dir_of(text, "killproof-drill-8-0.scope") is None
    assert scope_dir_of("4:memory:/x\n", "x") is None  # v1 lines are not the unified tree


def test_swap_enabled_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24576000 kB\nSwapTotal:             0 kB\n")
    assert not swap_enabled(meminfo)
    meminfo.write_text("SwapTotal:       2097148 kB\n")
    assert swap_enabled(meminfo)
    assert not swap_enabled(tmp_path / "missing")


def test_read_memory_unlimited_and_missing_are_none(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("max\n")
    state = read_memory(tmp_path, CgroupVersion.V2)
    assert state.limit_bytes is None and state.usage_bytes is None and state.oom_kill is None
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert read_memory(tmp_path, CgroupVersion.V1).limit_bytes is None


@given(st.text(max_size=200))
def test_parse_flat_keyed_never_crashes(text: str) -> None:
    out = parse_flat_keyed(text)
    assert all(isinstance(v, int) for v in out.values())


# -- /metrics and goroutine counts --------------------------------------------------------

CLIENT_GOLANG = """\
# HELP go_gc_duration_seconds A summary of the wall-time pause duration in GC cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.1e-05
go_gc_duration_seconds{quantile="1"} 0.000231
go_gc_duration_seconds_sum 0.001786
go_gc_duration_seconds_count 17
# HELP go_gc_gomemlimit_bytes Go runtime memory limit configured by the user.
# TYPE go_gc_gomemlimit_bytes gauge
go_gc_gomemlimit_bytes 1.20586240e+08
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 1012
# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 4.3614208e+07
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 5.1642368e+07
"""


def test_parse_metrics_picks_client_golang_series() -> None:
    m = parse_metrics(CLIENT_GOLANG)
    assert m.goroutines == 1012
    assert m.heap_inuse_bytes == 43614208
    assert m.gc_count == 17
    assert m.resident_bytes == 51642368
    assert m.gomemlimit_bytes == 120586240


@given(st.text(max_size=300))
def test_parse_metrics_raises_only_valueerror(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_metrics(text)


def test_goroutine_count_from_debug1() -> None:
    body = (
        b"goroutine profile: total 4096\n4000 @ 0x43a2b6 0x40a3c5\n#\t0x46e7c0\tmain.watch+0x20\n"
    )
    assert parse_goroutine_count(body) == 4096
    assert parse_goroutine_count(b"404 page not found\n") is None


# -- readiness probes --------------------------------------------------------------------


def test_parse_probe_forms() -> None:
    assert parse_probe("/readyz", 18090) == parse_probe("/readyz", 18090)
    http = parse_probe("/readyz", 18090)
    assert (http.kind, http.port, http.path) == (ProbeKind.HTTP, 18090, "/readyz")
    tcp = parse_probe("tcp:9000", 18090)
    assert (tcp.kind, tcp.port) == (ProbeKind.TCP, 9000)
    other = parse_probe(":9100/healthz", 18090)
    assert (other.kind, other.port, other.path) == (ProbeKind.HTTP, 9100, "/healthz")
    with pytest.raises(InputError):
        parse_probe("readyz", 18090)


# -- scenarios (the rule examples' format) ----------------------------------------------


def test_scenario_builds_the_result_it_describes() -> None:
    r = parse_scenario(
        "limit 64Mi\nsandbox cgroup-v2\nstep 200/s 5s p50=2ms p99=30ms errors=3\n"
        "memory 1s 20Mi 2s 33Mi\ngoroutines 1s 12\nidle\nmemory 9s 10Mi\n"
        "oom 4.1s cgroup-events\nexit 4.1s SIGKILL\n"
    )
    assert r.limits.memory_bytes == 64 << 20
    assert r.sandbox is SandboxKind.CGROUP_V2
    (step,) = r.steps
    assert (step.rate_asked_rps, step.p99_ms, step.error_count) == (200.0, 30.0, 3)
    assert [(s.t_s, s.memory_bytes, s.goroutines, s.step) for s in r.samples] == [
        (1.0, 20 << 20, 12, 0),
        (2.0, 33 << 20, None, 0),
        (9.0, 10 << 20, None, -1),
    ]
    assert r.oom is not None and r.oom.t_s == pytest.approx(4.1)
    assert r.exit is not None and r.exit.signal == "SIGKILL"


def test_scenario_error_names_the_line() -> None:
    with pytest.raises(InputError) as info:
        parse_scenario("limit 64Mi\nstep 200/s 5s\nmemory 1s\n", "s.txt")
    assert (info.value.path, info.value.line) == ("s.txt", 3)


@given(st.text(max_size=200))
def test_scenario_parser_never_crashes(text: str) -> None:
    try:
        parse_scenario(text)
    except InputError as exc:
        assert exc.line >= 1


# -- never a crash on junk: the remaining parsers ----------------------------------------


@given(st.text(max_size=30), st.integers(min_value=1, max_value=65535))
def test_parse_probe_raises_only_inputerror(text: str, port: int) -> None:
    with contextlib.suppress(InputError):
        probe = parse_probe(text, port)
        assert probe.kind in (ProbeKind.HTTP, ProbeKind.TCP)


@given(st.text(max_size=12))
def test_parse_cpus_and_signal_raise_only_inputerror(text: str) -> None:
    with contextlib.suppress(InputError):
        assert parse_cpus(text) > 0
    with contextlib.suppress(InputError):
        assert isinstance(parse_signal(text), signal.Signals)


@given(st.text(max_size=200))
def test_goroutine_dump_extraction_never_crashes(text: str) -> None:
    dump = extract_goroutine_dump(text)
    assert dump == "" or dump in text


def test_env_pairs() -> None:
    assert _env_pairs(["GOGC=50", "EMPTY="]) == {"GOGC": "50", "EMPTY": ""}
    with pytest.raises(InputError):
        _env_pairs(["NOEQUALS"])


@given(st.binary(max_size=300))
def test_goroutine_count_never_crashes(body: bytes) -> None:
    count = parse_goroutine_count(body)
    assert count is None or count >= 0


@given(st.lists(st.text(max_size=15), max_size=5))
def test_env_pairs_keep_every_key_or_refuse(items: list[str]) -> None:
    try:
        out = _env_pairs(items)
    except InputError:
        assert any("=" not in i or i.startswith("=") for i in items)
    else:
        assert set(out) == {i.split("=", 1)[0] for i in items}


@given(st.text(max_size=200), st.text(min_size=1, max_size=20))
def test_scope_dir_and_last_words_never_crash(text: str, unit: str) -> None:
    found = scope_dir_of(text, unit)
    assert found is None or str(found).startswith("/sys/fs/cgroup")
    assert len(last_words(text)) <= 300
