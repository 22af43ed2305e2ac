"""Go, shell and exit-code evidence of a signal death; real Go binaries produce the text."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killproof.errors import InputError
from killproof.facts.kill import Cause, KillEvent
from killproof.sources.exits import ExitLineParser, exit_code_event

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"


def feed(parser: ExitLineParser, text: str) -> list[KillEvent]:
    """Feed lines the way the log scanner does: anchored lines only."""
    out: list[KillEvent] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if parser.wants_context or any(a in line for a in parser.anchors):
            out += parser.feed(lineno, line)
    return out + list(parser.finish())


def test_go_and_shell_lines() -> None:
    events = feed(ExitLineParser("out.txt"), (FIXTURES / "go-and-shell.txt").read_text())
    got = [(e.evidence[0].line, e.source, e.pid, e.process, e.signal, e.exit_code) for e in events]
    assert got == [
        (3, "go", None, None, "SIGKILL", None),
        (5, "go", None, "compile", "SIGKILL", None),
        (7, "go", None, None, "SIGKILL", None),
        (10, "shell", 4242, "orders", "SIGKILL", None),
        (11, "shell", 4300, "worker", "SIGTERM", None),
        (13, "shell", None, "orders", "SIGKILL", None),
        (14, "shell", None, None, "SIGKILL", None),
        (15, "shell", None, "orders", "SIGKILL", None),
        (16, "go", None, None, "SIGKILL", 137),
        (17, "go", None, "migrate", "SIGTERM", None),
    ]
    assert all(e.cause is Cause.SIGKILL_UNKNOWN and e.killed for e in events)
    # Line 18 (runtime out of memory) and line 19 (a kernel victim line) are not shell kills.


def test_zsh_job_table_and_ordinary_words() -> None:
    text = (
        "[1]  + 4242 killed     ./orders --port 8080\n"
        "[2]  - 4300 terminated  ./bin/worker\n"
        "the job was killed by an operator\n"
        "pod terminated normally\n"
    )
    events = feed(ExitLineParser(), text)
    assert [(e.pid, e.process, e.signal) for e in events] == [
        (4242, "orders", "SIGKILL"),
        (4300, "worker", "SIGTERM"),
    ]


def test_exit_codes() -> None:
    kill = exit_code_event(137)
    assert (kill.cause, kill.signal, kill.exit_code, kill.killed) == (
        Cause.SIGKILL_UNKNOWN,
        "SIGKILL",
        137,
        True,
    )
    term = exit_code_event(143)
    assert (term.signal, term.exit_code) == ("SIGTERM", 143)
    assert exit_code_event(-9).signal == "SIGKILL"
    for code in (0, 1, 2, 139, 255):
        with pytest.raises(InputError, match=f"--exit-code {code}"):
            exit_code_event(code)


GO_PARENT = """package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	cmd := exec.Command(os.Args[1], "-c", "import time; time.sleep(30)")
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	time.Sleep(200 * time.Millisecond)
	sig := syscall.SIGKILL
	if len(os.Args) > 2 {
		sig = syscall.SIGTERM
	}
	_ = cmd.Process.Signal(sig)
	err := cmd.Wait()
	fmt.Printf("child %d: %v\\n", cmd.Process.Pid, err)
}
"""


@pytest.mark.slow
def test_real_go_exec_error_text(tmp_path: Path, go_build: Callable[[Path], Path]) -> None:
    pkg = tmp_path / "parent"
    pkg.mkdir()
    (pkg / "go.mod").write_text("module parent\n\ngo 1.21\n")
    (pkg / "main.go").write_text(GO_PARENT)
    binary = go_build(pkg)
    killed = subprocess.run([binary, sys.executable], capture_output=True, text=True, check=True)
    termed = subprocess.run(
        [binary, sys.executable, "term"], capture_output=True, text=True, check=True
    )
    [k] = feed(ExitLineParser(), killed.stdout)
    [t] = feed(ExitLineParser(), termed.stdout)
    assert (k.signal, k.source) == ("SIGKILL", "go")
    assert (t.signal, t.source) == ("SIGTERM", "go")


@pytest.mark.slow
def test_real_bash_killed_line() -> None:
    script = "sleep 30 & pid=$!; (sleep 0.2; kill -9 $pid) & wait $pid; echo done"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    # Non-interactive bash reports the signalled job on stderr ("… Killed  sleep 30").
    events = feed(ExitLineParser(), proc.stderr)
    assert [(e.signal, e.process) for e in events] == [("SIGKILL", "sleep")]
    assert events[0].pid is not None


@given(st.lists(st.text(max_size=120), max_size=20))
def test_arbitrary_lines_never_raise(lines: list[str]) -> None:
    parser = ExitLineParser()
    for i, line in enumerate(lines, 1):
        for event in parser.feed(i, line):
            assert event.signal in ("SIGKILL", "SIGTERM")


@given(st.integers(min_value=-300, max_value=300))
def test_exit_code_event_raises_only_input_error(code: int) -> None:
    try:
        event = exit_code_event(code)
    except InputError:
        return
    assert code in (137, 143, -9, -15)
    assert event.killed


def _report(text: str) -> list[dict[str, object]]:
    import io

    from killproof.why.run import build_report, read_stream

    events = list(read_stream(io.BytesIO(text.encode()), "out.txt"))
    return list(build_report(events, (), ("out.txt",)).sections["events"])


def test_any_tools_exit_code_137_is_a_sigkill_death() -> None:
    for line in (
        "Process finished with exit code 137 (interrupted by signal 9: SIGKILL)",
        "command terminated with non-zero exit code: Error executing in Container: 137",
    ):
        [event] = _report(line + "\n")
        assert (event["cause"], event["signal"], event["exit_code"]) == (
            "SIGKILL_UNKNOWN",
            "SIGKILL",
            137,
        ), line
    assert _report("Process finished with exit code 1370\nexit code 0\n") == []


def test_markdown_bold_killed_is_the_shells_killed() -> None:
    [event] = _report("epoch 3 loss 0.2\n**Killed**\n")
    assert (event["signal"], event["evidence"][0]["line"]) == ("SIGKILL", 2)  # type: ignore[index]


def test_two_go_signal_lines_are_two_deaths() -> None:
    text = (
        "pkg/a: /go/pkg/tool/compile: signal: killed\npkg/b: /go/pkg/tool/compile: signal: killed\n"
    )
    assert [e["process"] for e in _report(text)] == ["compile", "compile"]


def test_environment_assignments_are_not_the_command() -> None:
    [event] = _report(
        "./run.sh: line 3: 4242 Killed   CUDA_VISIBLE_DEVICES=$g A=1 python train.py\n"
    )
    assert (event["pid"], event["process"]) == (4242, "python")
