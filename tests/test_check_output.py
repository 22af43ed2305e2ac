"""What a person reads from ``check`` (and the shared formatters): goldens in every format,
findings never hard-wrapped, NO_COLOR turning off colour only, key/value tables without an
empty header, cells that never split a word, plurals, counts printed once, and Markdown
whose headings go in order and whose links resolve."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from killproof.check.run import CheckOptions, run_check
from killproof.cli import main
from killproof.config import terminal_settings
from killproof.model import Report, Severity, Table
from killproof.report import OutputFormat, RenderOptions, render
from killproof.report.markdown import anchor
from killproof.report.text import human
from killproof.rules import catalog

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "markdown"])
def test_check_formats_match_goldens(
    capsys: pytest.CaptureFixture[str],
    golden: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    monkeypatch.chdir(REPO)
    main(["check", "examples/orders", "--format", fmt])
    golden(f"check-orders.{fmt}", capsys.readouterr().out)


def orders_report() -> Report:
    return run_check(["examples/orders"], CheckOptions(jobs=1, paths_as_given=True))


def test_finding_lines_are_not_wrapped_at_the_terminal_width_with_or_without_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    report = orders_report()
    for color in (False, True):
        out = render(report, OutputFormat.TEXT, RenderOptions(color=color, width=60))
        plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
        for f in report.findings:
            head = f"{f.location}: {f.severity.value} {f.rule} {f.name}: {f.message}"
            assert head in plain.splitlines(), (color, head)
    assert "\x1b[" in render(report, OutputFormat.TEXT, RenderOptions(color=True, width=60))


def test_no_color_changes_colour_only() -> None:
    on = terminal_settings(True, Severity.ERROR, {"TERM": "xterm"})
    off = terminal_settings(True, Severity.ERROR, {"TERM": "xterm", "NO_COLOR": "1"})
    assert on.color and not off.color
    assert (on.width, on.fail_on) == (off.width, off.fail_on)


def test_key_value_tables_have_no_header_and_cells_never_split_a_word() -> None:
    long_id = "examples/orders/internal/very_long_package_name/handler_identifier.go"
    report = Report(
        command="drill",
        summary="x",
        tables=(
            Table("Drill", ("", ""), (("command", "./service"), ("work_dir", long_id))),
            Table("Steps", ("step", "held SLO"), (("1", "no: the service died or thrashed"),)),
        ),
    )
    out = render(report, OutputFormat.TEXT, RenderOptions(width=60))
    lines = out.splitlines()
    drill = lines.index("Drill")
    assert "command" in lines[drill + 2], "the first row follows the top border directly"
    assert any(long_id in line for line in lines)
    assert any("no: the service died or thrashed" in line for line in lines)
    markdown = render(report, OutputFormat.MARKDOWN, RenderOptions())
    assert "- **command**: ./service" in markdown
    assert "|  |  |" not in markdown and "| | |" not in markdown


def test_plurals_and_counts_printed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = render(orders_report(), OutputFormat.TEXT, RenderOptions())
    assert out.splitlines()[0].startswith("4 errors, 8 warnings, 1 info; 4 Go files and 3 ")
    assert "finding(s)" not in out
    assert not re.search(r"\b\d+ errors?, \d+ warnings?", "\n".join(out.splitlines()[1:]))
    one = run_check(["examples/orders/Dockerfile"], CheckOptions(paths_as_given=True))
    head = render(one, OutputFormat.TEXT, RenderOptions()).splitlines()[0]
    assert head.startswith("0 errors, 1 warning, 0 info; 0 Go files and 1 deploy file checked")


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (64 * 2**20, "bytes", "64.0 MiB"),
        (6.29146e07, "bytes", "60.0 MiB"),
        (512, "bytes", "512 bytes"),
        (5.0, "seconds", "5.0 s"),
        (0.05, "seconds", "50 ms"),
        (200, "requests/s", "200 requests/s"),
    ],
)
def test_measurements_in_human_units(value: float, unit: str, text: str) -> None:
    assert human(value, unit) == text


def markdown_problems(text: str) -> list[str]:
    """Headings that skip a level, and links to a heading the page does not have."""
    problems: list[str] = []
    anchors: set[str] = set()
    level = 0
    in_code = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        match = None if in_code else re.match(r"^(#+) (.*)$", line)
        if match:
            new = len(match[1])
            if new > level + 1:
                problems.append(f"heading jumps from level {level} to {new}: {line}")
            level = new
            anchors.add(anchor(match[2]))
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        if target not in anchors:
            problems.append(f"link to #{target}: no such heading")
    return problems


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.markdown")))
def test_markdown_goldens_have_ordered_headings_and_links_that_resolve(name: str) -> None:
    assert markdown_problems((GOLDEN / name).read_text(encoding="utf-8")) == []


def test_markdown_checker_sees_the_old_faults() -> None:
    assert markdown_problems("# a\n\n### b\n") == ["heading jumps from level 1 to 3: ### b"]
    assert markdown_problems("# a\n\n[KP109](#kp109)\n") == ["link to #kp109: no such heading"]


def test_rules_used_in_markdown_are_explained_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = render(orders_report(), OutputFormat.MARKDOWN, RenderOptions(rules=catalog()))
    assert "### KP109 unbounded-cache" in out and "](#kp109-unbounded-cache)" in out
    assert markdown_problems(out) == []


NOT_SHIPPED = ("DESIGN.md", "examples/demo.py")


def test_no_text_names_a_command_or_file_that_does_not_exist() -> None:
    from killproof.cli import COMMANDS

    texts = [*REPO.glob("src/**/*.py"), *REPO.glob("docs/*.md"), REPO / "README.md"]
    offenders = []
    for path in texts:
        rel = path.relative_to(REPO).as_posix()
        if rel == "docs/rules.md":  # generated from the rule modules checked here
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{rel}: {name}" for name in NOT_SHIPPED if name in text]
        for command in re.findall(r"`killproof ([a-z]+)", text):
            if command not in COMMANDS:
                offenders.append(f"{rel}: `killproof {command}`")
    assert offenders == []
