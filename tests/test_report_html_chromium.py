"""The HTML report in a real browser (Debian's headless ``chromium``): every chart drawn,
no script error, no console message, nothing smuggled in through a log line run.

The page's own script writes what it did into the DOM (``data-kp-ready``,
``data-kp-errors``, per chart ``data-kp-drawn`` / ``data-kp-series-pixels``), read back
with ``--dump-dom``; Chromium's console goes to stderr (``--enable-logging=stderr``), where
any ``CONSOLE`` line (a CSP violation, an exception, a log call) fails the test. A
screenshot of each page is kept under ``$KILLPROOF_ARTIFACTS`` (else the test's tmp dir).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from killproof.cli import main
from test_report_html import FIXTURES, HOSTILE, REPO, Page, hostile_report, html_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium)"
    ),
]
WINDOW = (1280, 2000)


class Dom(HTMLParser):
    """The ``<html>`` element's attributes and every element's, from a dumped DOM."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    @property
    def root(self) -> dict[str, str]:
        return next(a for t, a in self.elements if t == "html")

    def figures(self) -> dict[str, dict[str, str]]:
        return {a["id"]: a for t, a in self.elements if t == "figure" and "data-kp-chart" in a}


def chromium(page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on ``page`` (nothing else reachable: no network services,
    a fresh profile), stdout/stderr captured."""
    assert CHROMIUM is not None
    argv = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=3000", *mode, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)


def artefacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("KILLPROOF_ARTIFACTS") or tmp_path / "artefacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def open_in_browser(page: Path, tmp_path: Path) -> Dom:
    """Load ``page``, check what every page must satisfy, keep a screenshot; the DOM."""
    run = chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    dom = Dom(run.stdout)
    assert dom.root.get("data-kp-ready") == "1"
    assert "data-kp-errors" not in dom.root
    assert "data-pwned" not in dom.root
    assert [t for t, _ in dom.elements if t in ("img", "iframe", "object", "embed")] == []
    # Every chart the page has was drawn: canvas pixels in the series colour, SVG marks.
    source = Page(page.read_text(encoding="utf-8"))
    specs = {c["id"]: c for c in source.chart_data()}
    figures = dom.figures()
    for name, attrs in figures.items():
        assert int(attrs.get("data-kp-drawn", "0")) > 0, name
        if attrs["data-kp-chart"] == "uplot":
            spec = specs[attrs["data-kp-spec"]]
            assert attrs["data-kp-series"] == str(len(spec["series"])), name
            assert attrs["data-kp-points"] == str(len(spec["data"][0])), name
            assert int(attrs["data-kp-series-pixels"]) > 0, name
    shot = artefacts(tmp_path) / f"{page.stem}.png"
    shot.unlink(missing_ok=True)
    run = chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert png_size(shot) == WINDOW
    return dom


def test_real_drill_reports_draw_every_chart(tmp_path: Path) -> None:
    drawn = {}
    for name in ("drill-orders-oom", "drill-orders-fixed"):
        page = tmp_path / f"report-{name}.html"
        saved = FIXTURES / f"{name}.json"
        assert main(["report", str(saved), "--format", "html", "-o", str(page)]) == 0
        drawn[name] = set(open_in_browser(page, tmp_path).figures())
    assert drawn["drill-orders-oom"] == {
        "chart-memory", "chart-goroutines", "chart-latency", "chart-heap",
    }  # fmt: skip
    assert {"chart-memory", "chart-latency", "chart-shutdown"} <= drawn["drill-orders-fixed"]


def test_check_and_why_reports_open_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    check = tmp_path / "report-check-orders.html"
    assert main(["check", "examples/orders", "--format", "html", "-o", str(check)]) == 1
    dom = open_in_browser(check, tmp_path)
    assert dom.figures() == {}
    excerpts = [a for t, a in dom.elements if t == "pre" and a.get("class") == "excerpt"]
    assert {"class": "excerpt", "data-path": "examples/orders/cache.go", "data-line": "25"} in (
        excerpts
    )
    why = tmp_path / "report-why-incident.html"
    incident = ["examples/incident/kern.log", "examples/incident/pod.json"]
    assert main(["why", *incident, "--format", "html", "-o", str(why)]) == 1
    open_in_browser(why, tmp_path)


def test_markup_from_a_log_line_stays_inert_in_the_browser(tmp_path: Path) -> None:
    page = tmp_path / "report-hostile.html"
    page.write_text(html_of(hostile_report()), encoding="utf-8")
    dom = open_in_browser(page, tmp_path)  # no <img>, no data-pwned, no console line
    assert "chart-memory" in dom.figures()
    # The payload is in the page as text (a text node serialises < and > as entities).
    run = chromium(page, tmp_path / "profile-text", "--dump-dom")
    assert HOSTILE.replace("<", "&lt;").replace(">", "&gt;") in run.stdout
