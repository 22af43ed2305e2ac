"""What a new user trips over in ``drill`` (issue 16): the set-up judged as the service's
failure, a zero-config request that never exercises a per-key leak, ``--memory 64``, Ctrl-C
that prints nothing, and output a person cannot read at a glance.

Each test fails on the behaviour before the fix: the service's verdict was given for a
404, ``GET /hello`` was sent without its ``?k=``, ``64`` was 64 bytes, Ctrl-C printed only
``killproof: interrupted``, numbers read ``6.29146e+07 bytes``.
"""

from __future__ import annotations

import http.server
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import REPO
from killproof.cli import main
from killproof.drill import ledger
from killproof.drill.pprof_adapter import short_site_path
from killproof.drill.quantity import parse_memory_limit
from killproof.drill.ready import ProbeKind, ReadyProbe
from killproof.drill.request_source import RequestSource, RequestTemplate, single_request
from killproof.drill.route_requests import route_candidates
from killproof.drill.run import DrillConfig, _choose_request
from killproof.drill.scenario import parse_scenario
from killproof.drill.verdict import build_report
from killproof.errors import InputError
from killproof.report import OutputFormat, RenderOptions, render
from killproof.report.text import human
from killproof.rules import catalog
from killproof.rules.drill.common import secs
from test_drill_e2e import FIXTURES, free_port, line_of, needs_cgroup

Build = Callable[[Path], Path]

# A newcomer's service: /hello keeps 64 KiB per distinct ?k= (the leak `check` reports),
# /users/{id} reads a path variable, POST /orders is not a GET, /healthz is a probe.
HELLO_GO = """\
package main

import (
	"fmt"
	"net/http"
	"os"
	"sync"
)

var (
	mu   sync.Mutex
	seen = map[string][]byte{}
)

func hello(w http.ResponseWriter, r *http.Request) {
	k := r.URL.Query().Get("k")
	page := make([]byte, 64<<10)
	for i := range page {
		page[i] = byte(i) // touched, so resident
	}
	mu.Lock()
	seen[k] = page
	mu.Unlock()
	fmt.Fprintln(w, "hello", k)
}

func user(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, r.PathValue("id"))
}

func main() {
	http.HandleFunc("/hello", hello) // route: hello
	http.HandleFunc("GET /users/{id}", user) // route: user
	http.HandleFunc("POST /orders", hello)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
"""


def hello_service(tmp_path: Path) -> Path:
    root = tmp_path / "hello"
    root.mkdir()
    (root / "go.mod").write_text("module example.com/hello\n\ngo 1.22\n")
    (root / "main.go").write_text(HELLO_GO)
    return root


def text_of(scenario: str) -> str:
    report = build_report(parse_scenario(scenario), {"work_dir": "/tmp/drill"})
    options = RenderOptions(rules=catalog(), tool_version="0.0.0-test")
    return render(report, OutputFormat.TEXT, options)


# -- --memory 64 --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["64", "512", "1000.5", "0.5"])
def test_a_memory_limit_without_a_unit_below_1mib_names_the_units(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_memory_limit(text)
    message = str(info.value)
    assert f"--memory {text!r}" in message and f"{text}Mi" in message
    assert all(unit in message for unit in ("Ki", "Mi", "Gi", "M", "G"))


@pytest.mark.parametrize(
    ("text", "expected"), [("64Mi", 64 << 20), ("67108864", 64 << 20), ("512Ki", 512 << 10)]
)
def test_memory_limits_with_a_unit_or_in_bytes_above_1mib_are_taken(
    text: str, expected: int
) -> None:
    assert parse_memory_limit(text) == expected


def test_drill_memory_64_is_a_usage_error_before_anything_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["drill", "--memory", "64", "--work-dir", str(tmp_path / "w"), "--", "/bin/true"])
    err = capsys.readouterr().err
    assert code == 2 and "--memory '64' has no unit" in err and "64Mi" in err
    assert err.count("\n") == 1 and not (tmp_path / "w").exists()


# -- which request, and where it came from --------------------------------------------------


def test_zero_config_varies_the_query_key_and_the_path_variable_the_code_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = hello_service(tmp_path)
    monkeypatch.chdir(tmp_path)
    found = [(str(c.template), c.origin) for c in route_candidates(root.resolve())]
    hello, user = (
        line_of(root / "main.go", "route: hello"),
        line_of(root / "main.go", "route: user"),
    )
    assert found == [
        ("GET /hello?k={n}", f"a route found in the code, hello/main.go:{hello}, reading ?k"),
        ("GET /users/{n}", f"a route found in the code, hello/main.go:{user}, reading a path variable"),
        ("GET /healthz", "a probe path"),
        ("GET /", "the default"),
    ]  # fmt: skip


def test_examples_orders_is_drilled_with_distinct_ids_not_a_bare_get() -> None:
    first = route_candidates((REPO / "examples" / "orders").resolve())[0]
    line = line_of(REPO / "examples" / "orders" / "main.go", 'HandleFunc("/orders"')
    assert str(first.template) == "GET /orders?id={n}"
    assert f"examples/orders/main.go:{line}, reading ?id" in first.origin


def test_the_text_and_json_reports_say_which_request_was_sent_and_from_where() -> None:
    scenario = 'request "GET /orders?id={n}" --request\nstep 100/s 2s\nmemory 1s 20Mi 2s 20Mi\n'
    report = build_report(parse_scenario(scenario))
    assert report.sections["request"] == {"sent": "GET /orders?id={n}", "origin": "--request"}
    assert "│ request      │ GET /orders?id={n} (from --request) │" in text_of(scenario)


class _Status(http.server.BaseHTTPRequestHandler):
    """``/ok*`` answers 200, everything else 404."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path.startswith("/ok") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def status_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _config(port: int, requests: RequestSource, *alternates: RequestSource) -> DrillConfig:
    return DrillConfig(
        command=("svc",), memory_bytes=64 << 20, port=port,
        ready=ReadyProbe(ProbeKind.TCP, port=port), requests=requests, steps=(),
        work_dir=Path(), address="127.0.0.1", request_alternates=alternates,
    )  # fmt: skip


def test_a_first_request_that_is_not_2xx_stops_the_drill_naming_request_and_status(
    status_server: int,
) -> None:
    with pytest.raises(InputError) as info:
        _choose_request(_config(status_server, single_request("GET /nope?id={n}")))
    message = str(info.value)
    assert "GET /nope?id=0 (from --request): HTTP 404" in message and "--request" in message
    assert "\n" not in message


def test_zero_config_loads_the_first_candidate_answered_with_a_2xx(status_server: int) -> None:
    def source(path: str, origin: str) -> RequestSource:
        return RequestSource((RequestTemplate("GET", path),), origin)

    config = _config(
        status_server, source("/hello?k={n}", "a route"), source("/ok", "a probe path")
    )
    chosen, tried = _choose_request(config)
    assert (str(chosen.templates[0]), chosen.origin) == ("GET /ok", "a probe path")
    assert tried[0] == "GET /hello?k=0 (from a route): HTTP 404"


# -- output a person reads --------------------------------------------------------------------

OOM_AND_LEAK = """\
limit 64Mi
startup 0.05s
step 200/s 5s p50=1.4ms p99=8ms
memory 0.5s 8Mi 1s 13Mi 1.5s 18Mi 2s 23Mi 2.5s 28Mi 3s 33Mi 3.5s 38Mi 4s 43Mi 4.5s 48Mi 5s 53Mi
profile 4s memory-80pct main.storeResponse examples/orders/cache.go:21 41Mi
profile 5s step0-end bufio.NewReaderSize bufio/bufio.go:63 2Mi
oom 5.2s cgroup-events
exit 5.2s SIGKILL
"""


def test_the_headline_names_the_cause_of_death_before_its_symptoms() -> None:
    headline = text_of(OOM_AND_LEAK).splitlines()[0]
    assert headline.endswith(": oom-killed, memory-leak")


def test_numbers_are_in_human_units_with_correct_plurals() -> None:
    text = text_of(OOM_AND_LEAK)
    assert "peak memory: 53.0 MiB" in text and "startup: 50 ms" in text
    assert not re.search(r"\d[eE][+-]\d|\b0s after|\d\.\ds\b", text), text
    assert "2 findings: 2 errors, 0 warnings, 0 info" in text


def test_the_text_report_shows_the_heap_profiles_and_a_ready_pprof_line() -> None:
    text = text_of(OOM_AND_LEAK)
    # The profile to open is the one KP601 cites: the last one before the kill.
    assert "the heap profile taken at 5.0 s (step0-end)" in text
    assert "go tool pprof -top profiles/heap-step0-end.pb.gz" in text
    assert "2 heap profiles in profiles" in text


def test_an_interrupted_drill_says_so_in_its_headline_and_json() -> None:
    report = build_report(parse_scenario("interrupted\nstep 100/s 2s\nmemory 1s 20Mi\n"))
    assert report.summary.startswith("drill INTERRUPTED (partial result")
    assert report.sections["interrupted"] is True
    assert [(s.what, s.reason) for s in report.skipped] == [
        ("shutdown test", "the drill was interrupted")
    ]


@pytest.mark.parametrize(
    ("function", "file", "expected"),
    [
        ("bufio.NewReaderSize", "/work/main/.venv/lib/python3.11/site-packages/go/src/bufio/bufio.go", "bufio/bufio.go"),
        ("net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", "net/http/server.go"),
        ("github.com/a/b.F", "/root/go/pkg/mod/github.com/a/b@v1.2.3/b.go", "github.com/a/b@v1.2.3/b.go"),
        ("main.storeResponse", "/home/me/src/main/cache.go", "/home/me/src/main/cache.go"),
        ("example.com/svc/cache.Put", "/src/example.com/svc/cache/c.go", "/src/example.com/svc/cache/c.go"),
    ],
)  # fmt: skip
def test_allocation_sites_in_the_standard_library_print_as_their_import_path(
    function: str, file: str, expected: str
) -> None:
    assert short_site_path(function, file) == expected


def test_user_code_is_printed_relative_to_the_current_directory() -> None:
    assert short_site_path("main.f", "/w/repo/svc/main.go", Path("/w/repo")) == "svc/main.go"


@given(st.floats(min_value=0, max_value=1e15, allow_nan=False))
def test_measurements_never_print_in_scientific_notation(value: float) -> None:
    for unit in ("bytes", "seconds"):
        shown = human(value, unit)
        assert not re.search(r"\d[eE][+-]?\d", shown), shown


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.0, "0.00 s"), (0.3, "0.3 s"), (6.8, "6.8 s"), (95, "95.0 s"),
                           (750, "12.5 min"), (7560, "2.1 h")],
)  # fmt: skip
def test_seconds_read_as_seconds_minutes_or_hours(seconds: float, shown: str) -> None:
    assert secs(seconds) == shown


# -- the real thing ---------------------------------------------------------------------------


@needs_cgroup
def test_a_404_request_is_a_usage_error_not_a_verdict(go_build: Build, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "killproof.cli", "drill", "--memory", "64Mi", "--rate", "50",
         "--duration", "2s", "--port", str(free_port()), "--ready", "/readyz",
         "--request", "GET /no-such-path", "--no-progress", "-f", "json", "-o", str(out),
         "--", str(go_build(FIXTURES / "clean"))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "GET /no-such-path (from --request): HTTP 404" in proc.stderr
    assert not out.exists()  # no verdict was given


@needs_cgroup
def test_zero_config_drill_path_sends_distinct_keys_and_sees_the_leak(tmp_path: Path) -> None:
    root = hello_service(tmp_path)
    out = tmp_path / "report.json"
    code = main(["drill", str(root), "--memory", "256Mi", "--rate", "200", "--duration", "5s",
                 "--port", str(free_port()), "--no-shutdown-test", "--no-progress",
                 "--work-dir", str(tmp_path / "w"), "-f", "json", "-o", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    assert report["request"]["sent"] == "GET /hello?k={n}"
    line = line_of(root / "main.go", "route: hello")
    assert report["request"]["origin"].endswith(f"main.go:{line}, reading ?k")
    (step,) = report["capacity"]["load_steps"]
    assert step["errors"] == {} and step["completed"] > 500
    # 200 distinct keys a second × 64 KiB: the map grows, and the drill says so.
    assert [f["rule"] for f in report["findings"]] == ["KP602"], report["findings"]
    assert code == 1


@needs_cgroup
def test_ctrl_c_prints_what_was_measured_so_far(go_build: Build, tmp_path: Path) -> None:
    code, out, err = _interrupt_cli_drill(
        ["--memory", "64Mi", "--rate", "50", "--duration", "60s", "--port", str(free_port()),
         "--ready", "/readyz", "--request", "GET /orders?id={n}",
         "--work-dir", str(tmp_path / "w"), "--", str(go_build(FIXTURES / "clean"))],
        after_s=3.0,  # readiness, the first request, then some load and samples
    )  # fmt: skip
    assert code == 130, err
    assert re.match(r"drill INTERRUPTED \(partial result, so far pass\): clean\S* at 64Mi", out)
    assert "interrupted during step 1 of 1: a partial result (0 steps completed)" in out
    assert re.search(r"peak memory: \d+\.\d MiB", out), out
    assert "GET /orders?id={n} (from --request)" in out
    assert err.strip().endswith("killproof: interrupted")


def _interrupt_cli_drill(argv: list[str], after_s: float) -> tuple[int, str, str]:
    """Run ``killproof drill ARGV`` in a child, SIGINT it ``after_s`` seconds after its
    service started; its exit status, stdout and stderr."""
    child = subprocess.Popen(
        [sys.executable, "-m", "killproof.cli", "drill", "--no-progress", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not list(ledger.default_dir().glob(f"{child.pid}-*.json")):
            assert time.monotonic() < deadline, "the drill never started its service"
            time.sleep(0.05)
        time.sleep(after_s)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, out, err


@needs_cgroup
def test_ctrl_c_before_ready_reports_the_wait_and_blames_nothing(tmp_path: Path) -> None:
    code, out, err = _interrupt_cli_drill(
        ["--memory", "64Mi", "--port", str(free_port()), "--ready", "tcp",
         "--work-dir", str(tmp_path / "w"), "--", "/bin/sleep", "60"],
        after_s=0.5,
    )  # fmt: skip
    assert code == 130, err
    assert out.startswith("drill INTERRUPTED (partial result, so far pass): sleep at 64Mi")
    assert re.search(r"interrupted after \d+\.\d s, before the service became ready", out)
    assert "KP608" not in out  # the drill was stopped, the service was not slow
    assert err.strip().endswith("killproof: interrupted")


def test_drill_path_notes_name_the_directory_not_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from killproof.drill.linked import plan_path

    hello_service(tmp_path)
    monkeypatch.chdir(tmp_path)
    plan, _ = plan_path(Path("hello"))
    assert plan.notes == ("no launch of hello found: default limits and probes",)
