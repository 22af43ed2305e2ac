"""``drill`` prints paths as ``check`` does (issue 16): relative to the current directory
when inside it. Before the fix a drill of ``hello`` printed its work dir, its built binary
and its heap profiles as absolute paths (``/home/me/svc/w/profiles/heap-…``) and the binary
of a temporary work dir that was already removed."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from killproof.commands.drill import shown_path, shown_paths
from killproof.drill.scenario import parse_scenario
from killproof.drill.verdict import build_report
from killproof.facts.drill import DrillResult, HeapProfile
from killproof.report import OutputFormat, RenderOptions, render
from killproof.rules import catalog

CWD = Path("/home/me/svc")


def test_a_path_inside_the_current_directory_is_printed_relative_to_it() -> None:
    assert shown_path("/home/me/svc/w/profiles/heap-1.pb.gz", CWD) == "w/profiles/heap-1.pb.gz"
    assert shown_path(CWD, CWD) == "."
    assert shown_path("/tmp/killproof-drill-run-x/bin/hello", CWD) == (
        "/tmp/killproof-drill-run-x/bin/hello"
    )
    assert shown_path("/home/me/svc2/bin/x", CWD) == "/home/me/svc2/bin/x"  # not a prefix match
    assert shown_path("./orders", CWD) == "./orders"  # as typed


def _result(command: str) -> DrillResult:
    result = parse_scenario("step 100/s 2s\nmemory 1s 20Mi 2s 20Mi\n")
    path = f"{CWD}/w/profiles/heap-step0-end.pb.gz"
    profile = HeapProfile(path=path, t_s=2.0, reason="step0-end")
    return replace(result, command=(command,), profiles=(profile,))


def _text(result: DrillResult, metadata: dict[str, object]) -> str:
    report = build_report(result, metadata)
    return render(report, OutputFormat.TEXT, RenderOptions(rules=catalog()))


def test_a_built_binary_and_its_profiles_are_printed_relative_to_the_current_directory() -> None:
    result = shown_paths(_result(f"{CWD}/w/bin/hello"), CWD, built=True)
    text = _text(result, {"built_from": "hello", "work_dir": "w"})
    assert "│ command       │ w/bin/hello (go build of hello) " in text
    assert "│ read one      │ go tool pprof -top w/profiles/heap-step0-end.pb.gz " in text
    assert "│ work_dir      │ w " in text
    assert str(CWD) not in text
    report = build_report(result, {"built_from": "hello", "work_dir": "w"})
    assert report.metadata["command"] == ["w/bin/hello"]
    assert [p["path"] for p in report.sections["profiles"]] == ["w/profiles/heap-step0-end.pb.gz"]


def test_a_binary_built_in_a_removed_temporary_dir_is_not_printed() -> None:
    result = shown_paths(_result("/tmp/killproof-drill-run-x/bin/hello"), CWD, built=True)
    text = _text(result, {"built_from": "hello"})
    removed = "go build of hello (the binary is removed after the drill)"
    assert re.search(rf"│ command +│ {re.escape(removed)} +│", text)
    assert "/tmp/killproof-drill-run-x/bin" not in text.split("read one")[0]
    assert text.startswith("drill ") and " hello at " in text.splitlines()[0]


def test_a_command_the_user_typed_is_printed_as_typed() -> None:
    result = shown_paths(_result(f"{CWD}/orders"), CWD, built=False)
    assert result.command == (f"{CWD}/orders",)
