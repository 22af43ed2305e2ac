"""``--format html`` and ``killproof report``: what the page holds, what it refuses to
run, and that a saved JSON report renders again as it first did.

The page in a real browser is tests/test_report_html_chromium.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from killproof.cli import main
from killproof.commands.report import read_excerpts, report_from_json
from killproof.drill.scenario import parse_scenario
from killproof.drill.verdict import build_report
from killproof.model import Evidence, Finding, Location, Measurement, Report, Severity, Table
from killproof.report import OutputFormat, RenderOptions, SourceExcerpt, render
from killproof.report import html_charts as charts
from killproof.rules import catalog

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "report_html"
VENDOR = REPO / "src" / "killproof" / "report" / "vendor"
HOSTILE = "</script><img src=x onerror=\"document.documentElement.setAttribute('data-pwned','1')\">"
"""Markup a log line could carry; it must show as text and never run."""

# orders at 64Mi (the drill golden's scenario): leaks at 200 req/s, OOM-killed in step 2.
ORDERS_OOM = """\
limit 64Mi
slo p99<300ms
startup 0.05s
idle
memory 0s 3Mi
step 200/s 5s p50=1.4ms p99=8ms
memory 0.5s 8Mi 1s 10Mi 1.5s 12Mi 2s 15Mi 2.5s 17Mi 3s 20Mi 3.5s 22Mi 4s 25Mi 4.5s 27Mi 5s 30Mi
goroutines 1s 40 3s 41 5s 40
step 400/s 5s p50=2ms p99=90ms stopped=yes
memory 6s 40Mi 7s 50Mi 8s 60Mi
profile 5s step0-end main.storeResponse examples/orders/cache.go:21 24Mi
profile 7.4s memory-80pct main.storeResponse examples/orders/cache.go:21 41Mi
oom 8.3s cgroup-events
exit 8.3s SIGKILL
"""


class Page(HTMLParser):
    """The tags, attributes, script bodies and visible text of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.text: list[str] = []
        self._script: dict[str, str | None] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts.append((self._script, data))
        else:
            self.text.append(data)

    def ids(self) -> set[str]:
        return {str(a["id"]) for _, a in self.tags if a.get("id")}

    def chart_data(self) -> list[dict[str, Any]]:
        (body,) = [b for a, b in self.scripts if a.get("id") == "kp-charts"]
        data: list[dict[str, Any]] = json.loads(body)
        return data


def html_of(report: Report, **options: Any) -> str:
    return render(report, OutputFormat.HTML, RenderOptions(**options))


def hostile_report() -> Report:
    oom = build_report(parse_scenario(ORDERS_OOM, "oom.txt"))
    sections = dict(oom.sections)
    sections["oom"] = {**sections["oom"], "source": HOSTILE + "\u2028\u2029&"}
    return Report(
        command="drill",
        summary=f"drill FAIL: {HOSTILE}",
        findings=(
            Finding(
                rule="KP601",
                name="oom-killed",
                severity=Severity.ERROR,
                message=f"killed: {HOSTILE}",
                location=Location(path=f"a{HOSTILE}.go", line=3, subject=HOSTILE),
                evidence=(Evidence(HOSTILE, "k.log", 1),),
                remedy=HOSTILE,
            ),
        ),
        measurements=(Measurement(HOSTILE, 1.0, "bytes", HOSTILE),),
        sections=sections,
        metadata={"env": HOSTILE, "command": [HOSTILE]},
        tables=(Table(HOSTILE, (HOSTILE, "b"), ((HOSTILE, HOSTILE),)),),
    )


def test_untrusted_markup_is_text_never_markup_nor_script() -> None:
    excerpt = SourceExcerpt(f"a{HOSTILE}.go", 3, 2, (HOSTILE, HOSTILE))
    html = html_of(hostile_report(), excerpts={(f"a{HOSTILE}.go", 3): excerpt})
    page = Page(html)
    assert [t for t, _ in page.tags if t == "img"] == []
    handlers = [(t, k) for t, a in page.tags for k in a if k.startswith("on")]
    assert handlers == []
    # Shown, as text, wherever the report carries it: headline, finding, excerpt, table, …
    text = "".join(page.text)
    assert text.count(HOSTILE) >= 10
    # The chart data carries the OOM source: escaped in the page, intact once parsed.
    (body,) = [b for a, b in page.scripts if a.get("id") == "kp-charts"]
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in body
    (memory,) = [c for c in page.chart_data() if c["id"] == "memory"]
    (oom,) = [m for m in memory["vlines"] if m["kind"] == "oom"]
    assert oom["label"] == f"OOM kill ({HOSTILE}\u2028\u2029&)"
    assert oom["value"] == 8.3


def test_script_json_escapes_what_would_end_or_confuse_a_script() -> None:
    from killproof.report.html import script_json

    value = {"k": "</script><!-- & \u2028\u2029 >"}
    text = script_json(value)
    assert re.search(r"[<>&\u2028\u2029]", text) is None
    assert json.loads(text) == value


def test_the_page_loads_nothing_and_runs_only_its_own_scripts() -> None:
    html = html_of(build_report(parse_scenario(ORDERS_OOM, "oom.txt")))
    page = Page(html)
    assert [t for t, _ in page.tags if t in ("link", "iframe", "img", "object", "embed")] == []
    for tag, attrs in page.tags:
        for key in ("src", "href", "action", "srcset"):
            assert attrs.get(key) is None, (tag, key)
    (csp,) = [
        a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert (
        csp is not None
        and "default-src 'none'" in csp
        and "unsafe-inline'; " not in csp.split("script-src")[1].split(";")[0]
    )
    executable = [b for a, b in page.scripts if a.get("type") is None]
    assert len(executable) == 2  # the page's script and uPlot
    for body in executable:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_a_check_report_carries_no_chart_library() -> None:
    report = Report(command="check", findings=(), summary="0 errors")
    html = html_of(report)
    page = Page(html)
    assert page.chart_data() == []
    assert "var uPlot=" not in html and "uPlot.min.css" not in html
    assert len(html) < 20_000
    assert "CLEAN" in "".join(page.text)


def test_real_oom_drill_charts_memory_with_limit_and_the_oom_moment() -> None:
    report = report_from_json((FIXTURES / "drill-orders-oom.json").read_bytes())
    page = Page(html_of(report))
    specs = {c["id"]: c for c in page.chart_data()}
    assert set(specs) == {"memory", "goroutines", "latency"}
    memory = specs["memory"]
    assert memory["series"] == ["cgroup usage", "RSS", "heap in use"]
    assert {(m["kind"], m["value"]) for m in memory["hlines"]} == {("limit", 64.0)}
    assert ("oom", 12.234) in {(m["kind"], m["value"]) for m in memory["vlines"]}
    samples = report.sections["samples"]
    assert len(memory["data"][0]) == len(samples)
    peak = max(s["cgroup_usage_bytes"] or 0 for s in samples)
    assert max(v for v in memory["data"][1] if v is not None) == round(peak / 2**20, 3)
    assert specs["latency"]["data"][0] == [200.0]
    assert specs["latency"]["data"][3] == [141.695]  # p99 of the step
    assert {"chart-memory", "chart-latency", "chart-heap"} <= page.ids()
    assert "chart-shutdown" not in page.ids()
    text = "".join(page.text)
    assert "main.storeResponse" in text and "examples/orders/cache.go:21" in text
    assert "FAIL" in text


def test_real_fixed_drill_charts_gomemlimit_and_the_shutdown_timeline() -> None:
    report = report_from_json((FIXTURES / "drill-orders-fixed.json").read_bytes())
    page = Page(html_of(report))
    specs = {c["id"]: c for c in page.chart_data()}
    hlines = {(m["kind"], m["value"]) for m in specs["memory"]["hlines"]}
    assert hlines == {("limit", 128.0), ("gomemlimit", 115.0)}
    vlines = {(m["kind"], m["label"]) for m in specs["memory"]["vlines"]}
    assert {("step", "step 1: 100/s"), ("step", "step 2: 200/s"), ("signal", "SIGTERM")} <= vlines
    assert specs["latency"]["data"][0] == [100.0, 200.0]
    assert "chart-shutdown" in page.ids()
    timeline = charts.shutdown_timeline(report.sections)
    assert timeline is not None
    assert [(e.label, e.at_s) for e in timeline.events] == [
        ("SIGTERM sent", 0.0),
        ("readiness failed", report.sections["shutdown"]["readiness_failed_after_s"]),
        ("listener closed", report.sections["shutdown"]["listener_closed_after_s"]),
        ("exited", report.sections["shutdown"]["exit_after_s"]),
    ]
    assert timeline.grace_s == 25.0
    assert "993 ok, 0 failed, 12 refused after close" in "".join(page.text)


def test_heap_sites_come_from_the_profile_before_the_kill_largest_first() -> None:
    sections = {
        "oom": {"top_sites": [
            {"function": "small", "file": "b.go", "line": 2, "inuse_bytes": 1 << 20},
            {"function": "big", "file": "a.go", "line": 9, "inuse_bytes": 4 << 20},
        ]},
        "profiles": [{"t_s": 1.0, "reason": "step0-end",
                      "top": [{"function": "other", "file": "c.go", "line": 1, "inuse_bytes": 9}]}],
    }  # fmt: skip
    chart = charts.heap_sites(sections)
    assert chart is not None
    assert [(b.function, b.where, b.share) for b in chart.bars] == [
        ("big", "a.go:9", 1.0),
        ("small", "b.go:2", 0.25),
    ]
    last = charts.heap_sites({"profiles": sections["profiles"]})
    assert last is not None and [b.function for b in last.bars] == ["other"]
    assert "1.0 s, step0-end" in last.title


def test_malformed_sections_give_no_chart_rather_than_an_error() -> None:
    bad: dict[str, Any] = {
        "samples": [{"t_s": "x"}, 3, None, {"t_s": 1, "rss_bytes": True}],
        "capacity": {"load_steps": "no", "slo": 5},
        "oom": [1],
        "shutdown": "gone",
        "profiles": {"top": 1},
    }
    assert charts.memory_chart(bad, {"env": 7}) is None
    assert charts.goroutine_chart(bad) is None
    assert charts.latency_chart(bad) is None
    assert charts.heap_sites(bad) is None
    assert charts.shutdown_timeline(bad) is None
    assert "<html" in html_of(Report(command="drill", sections=bad))


def test_plan_recommendations_render_as_a_table() -> None:
    sections = {"recommendations": [
        {"setting": "resources.limits.memory", "current": "64Mi", "recommended": "96Mi",
         "formula": "peak × 1.15", "inputs": {"peak": "83Mi", "margin": 0.15}},
        {"setting": "GOMEMLIMIT", "current": None, "recommended": "86MiB",
         "formula": "0.9 × limit − non-heap", "inputs": ["limit 96Mi", "non-heap 0.4Mi"]},
    ]}  # fmt: skip
    page = Page(html_of(Report(command="plan", sections=sections, summary="plan for orders")))
    cells = [t.strip() for t in page.text if t.strip()]
    i = cells.index("Recommendations")
    assert cells[i + 1 : i + 6] == ["setting", "current", "recommended", "formula", "inputs"]
    assert cells[i + 6 : i + 11] == [
        "resources.limits.memory", "64Mi", "96Mi", "peak × 1.15", "peak = 83Mi\nmargin = 0.15",
    ]  # fmt: skip
    assert cells[i + 11 : i + 16] == [
        "GOMEMLIMIT", "-", "86MiB", "0.9 × limit − non-heap", "limit 96Mi\nnon-heap 0.4Mi",
    ]  # fmt: skip
    assert "PLAN" in cells


def test_findings_are_grouped_by_severity_with_their_source_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "check.html"
    assert main(["check", "examples/orders", "--format", "html", "-o", str(out)]) == 1
    page = Page(out.read_text(encoding="utf-8"))
    ids = [a["id"] for _, a in page.tags if str(a.get("id", "")).startswith("findings-")]
    assert ids == ["findings-error", "findings-warning", "findings-info"]
    source = (REPO / "examples/orders/cache.go").read_text().splitlines()
    pres = [a for t, a in page.tags if t == "pre" and a.get("data-path")]
    assert {"data-path": "examples/orders/cache.go", "data-line": "25", "class": "excerpt"} in pres
    text = "".join(page.text)
    assert "".join(f"{n}{source[n - 1]}\n" for n in range(23, 28)) in text


def test_excerpts_are_read_only_inside_the_working_directory(tmp_path: Path) -> None:
    inside = tmp_path / "src" / "main.go"
    inside.parent.mkdir()
    inside.write_text("".join(f"line {n}\n" for n in range(1, 11)))
    (tmp_path / "bin.go").write_bytes(b"\0\1\2\n" * 4)
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("secret\n" * 5)

    def at(path: str, line: int) -> Finding:
        return Finding("KP1", "x", Severity.ERROR, "m", Location(path=path, line=line))

    wanted = [at("src/main.go", 1), at("src/main.go", 10), at("src/main.go", 11),
              at(f"../{secret.name}", 2), at(str(secret), 2), at("bin.go", 1), at("nope.go", 1)]  # fmt: skip
    got = read_excerpts(Report(command="check", findings=tuple(wanted)), tmp_path)
    assert got == {
        ("src/main.go", 1): SourceExcerpt("src/main.go", 1, 1, ("line 1", "line 2", "line 3")),
        ("src/main.go", 10): SourceExcerpt("src/main.go", 10, 8, ("line 8", "line 9", "line 10")),
    }


@pytest.mark.parametrize("command", ["drill", "why", "check"])
def test_a_saved_json_report_renders_again_as_it_first_did(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(REPO)
    if command == "drill":
        report = build_report(parse_scenario(ORDERS_OOM, "oom.txt"), {"work_dir": "/tmp/d"})
    else:
        argv = {"why": ["why", "examples/incident/kern.log", "examples/incident/pod.json"],
                "check": ["check", "examples/orders"]}[command]  # fmt: skip
        saved = tmp_path / "first.json"
        main([*argv, "--format", "json", "-o", str(saved)])
        report = report_from_json(saved.read_bytes())
    saved = tmp_path / "saved.json"
    saved.write_text(render(report, OutputFormat.JSON, RenderOptions()), encoding="utf-8")
    again = report_from_json(saved.read_bytes())
    assert again.to_json() == report.to_json()
    for fmt in ("text", "markdown", "json"):
        out = tmp_path / f"again.{fmt}"
        assert main(["report", str(saved), "--format", fmt, "-o", str(out)]) == 0
        options = RenderOptions(rules=catalog() if fmt == "markdown" else {})
        assert out.read_text(encoding="utf-8") == render(report, OutputFormat(fmt), options)


def test_report_exit_status_follows_fail_on_only_when_asked(tmp_path: Path) -> None:
    saved = tmp_path / "drill.json"
    report = build_report(parse_scenario(ORDERS_OOM, "oom.txt"))
    saved.write_text(render(report, OutputFormat.JSON, RenderOptions()), encoding="utf-8")
    out = str(tmp_path / "r.html")
    assert main(["report", str(saved), "--format", "html", "-o", out]) == 0
    assert main(["report", str(saved), "--format", "html", "-o", out, "--fail-on", "error"]) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", 'no "command"'),
        (b'{"schema_version": "2.0", "command": "drill"}', "schema_version 2.0"),
        (
            b'{"schema_version": "1.0", "command": "x", "findings": [{"rule": "KP1", '
            b'"severity": "fatal"}]}',
            "not a killproof JSON report",
        ),
        (
            b'{"schema_version": "1.0", "command": "x", "measurements": [{"name": "a", '
            b'"value": "9"}]}',
            "not a number",
        ),
    ],
)
def test_report_refuses_what_is_not_a_report(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "bad.json"
    saved.write_bytes(content)
    assert main(["report", str(saved), "--format", "html"]) == 2
    err = capsys.readouterr().err
    assert str(saved) in err and message in err and "Traceback" not in err


def _structure(html: str) -> str:
    """The page with the inline CSS and scripts folded (their bodies are vendored or
    tested in the browser): what a reviewer reads in the golden's diff."""
    html = re.sub(r"(<style>)(.*?)(</style>)", r"\1…\3", html, flags=re.S)
    html = re.sub(r"(<script>)(.*?)(</script>)", r"\1…\3", html, flags=re.S)
    return re.sub(r"script-src [^;]*;", "script-src …;", html)


def test_html_structure_matches_golden(golden: Callable[[str, str], None]) -> None:
    report = build_report(parse_scenario(ORDERS_OOM, "orders-oom.txt"), {"work_dir": "/tmp/drill"})
    html = render(report, OutputFormat.HTML, RenderOptions(rules=catalog()))
    golden("drill-orders-oom.html", _structure(html))


def test_vendored_uplot_is_the_pinned_version_with_its_licence() -> None:
    script = (VENDOR / "uPlot.iife.min.js").read_text(encoding="utf-8")
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    refresh = (REPO / "scripts" / "refresh-uplot.sh").read_text(encoding="utf-8")
    version = re.search(r"\(v(\d+\.\d+\.\d+)\)", script.splitlines()[0])
    assert version is not None
    assert readme.startswith(f"uPlot {version[1]} ") and f"VERSION=${{1:-{version[1]}}}" in refresh
    assert "</script" not in script.lower() and "<!--" not in script
    assert "MIT License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")


def test_html_flag_keeps_the_page_next_to_the_usual_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    page = tmp_path / "why.html"
    incident = ["examples/incident/kern.log", "examples/incident/pod.json"]
    assert main(["why", *incident, "--html", str(page)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("1 kill: orders-leak (pid 24649) OOM-killed")
    assert f"HTML report written to {page}" in err
    html = page.read_text(encoding="utf-8")
    assert "<title>killproof why: ERRORS</title>" in html
    assert "orders-leak (pid 24649) OOM-killed" in "".join(Page(html).text)


@pytest.mark.slow
def test_the_wheel_carries_what_the_page_needs(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("killproof-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    for asset in ("templates/report.html.j2", "templates/report.js", "vendor/LICENSE",
                  "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"):  # fmt: skip
        assert f"killproof/report/{asset}" in names
    # The installed package alone renders a page with its charts (no source tree on the path).
    saved = FIXTURES / "drill-orders-oom.json"
    deps = [p for p in sys.path if p.endswith("site-packages")]
    script = (
        f"import sys; sys.path[:0] = {[str(site), *deps]!r}; import killproof; "
        "from killproof.cli import main; print(killproof.__file__); "
        f"sys.exit(main(['report', {str(saved)!r}, '--format', 'html', '-o', 'out.html']))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(str(site))
    page = Page((tmp_path / "out.html").read_text(encoding="utf-8"))
    assert {c["id"] for c in page.chart_data()} == {"memory", "goroutines", "latency"}


def test_a_long_drill_is_thinned_and_keeps_its_peak() -> None:
    samples = [
        {"t_s": i / 10, "cgroup_usage_bytes": (20 << 20) + (i % 7) * 4096, "step": 0}
        for i in range(36_000)
    ]
    samples[21_337]["cgroup_usage_bytes"] = 63 << 20  # the spike before a kill
    samples[30_001]["cgroup_usage_bytes"] = 1 << 20
    chart = charts.memory_chart({"samples": samples}, {})
    assert chart is not None
    x, memory = chart.columns
    assert len(x) <= charts.MAX_POINTS + 2 and list(x) == sorted(t or 0.0 for t in x)
    assert max(v or 0 for v in memory) == 63.0 and min(v or 0 for v in memory) == 1.0
    assert x[memory.index(63.0)] == 2133.7
    assert (x[0], x[-1]) == (0.0, 3599.9)


def _finding(severity: Severity) -> Finding:
    return Finding("KP1", "x", severity, "m")


@pytest.mark.parametrize(
    ("report", "word", "tone"),
    [
        (Report("drill", sections={"verdict": "pass"}), "PASS", "pass"),
        (Report("drill", sections={"verdict": "fail"}), "FAIL", "fail"),
        (Report("drill", sections={"verdict": "pass", "interrupted": True}), "INTERRUPTED", "warn"),
        (Report("check", findings=(_finding(Severity.WARNING), _finding(Severity.INFO))),
         "WARNINGS", "warn"),
        (Report("check", findings=(_finding(Severity.INFO), _finding(Severity.ERROR))),
         "ERRORS", "fail"),
        (Report("why"), "CLEAN", "pass"),
        (Report("plan", sections={"recommendations": [{"setting": "x"}]}), "PLAN", "info"),
    ],
)  # fmt: skip
def test_the_verdict_on_top(report: Report, word: str, tone: str) -> None:
    html = html_of(report)
    assert (
        f'<section class="verdict tone-{tone}" id="verdict">\n<span class="word">{word}</span>'
        in html
    )
