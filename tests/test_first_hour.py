"""The first hour of a new user, end to end (``make first-hour``; issue 16).

A small Go service of the user's own (standard library only, written here into a temporary
directory) that keeps one 64 KiB page per distinct ``?user=`` and never evicts one. The user
runs, from the directory above it, exactly what the README tells them to:

1. ``killproof check svc`` — which rules, on which lines of their file;
2. ``killproof drill svc --memory 32Mi`` — built offline with the local Go toolchain, run
   under a real memory limit, killed: the headline, the exit status, the paths printed;
3. ``killproof why`` — this machine's kernel log explains the kill the drill caused.

Each step asserts what the user reads, as they read it (the CLI in a child process, its
stdout and exit status), not a data structure.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from killproof import gotool
from killproof.errors import InputError
from test_drill_e2e import free_port, line_of, needs_cgroup

pytestmark = pytest.mark.slow

SERVICE_GO = """\
// A newcomer's service: one page kept per distinct ?user=, never evicted.
package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
)

var (
	mu    sync.Mutex
	pages = map[string][]byte{} // the cache
)

func profile(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	page := make([]byte, 64<<10) // the allocation
	for i := range page {
		page[i] = byte(i) // touched, so resident
	}
	mu.Lock()
	pages[user] = page // the leak
	mu.Unlock()
	fmt.Fprintf(w, "profile of %s\\n", user)
}

func main() {
	http.HandleFunc("/profile", profile) // the route
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil) // the server
}
"""


def killproof(cwd: Path, *argv: str) -> tuple[int, str, str]:
    """``killproof ARGV`` as the user runs it, in ``cwd``: exit status, stdout, stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "killproof.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The user's directory, holding ``svc/`` (go.mod and main.go)."""
    try:
        gotool.go_binary()
    except InputError as exc:
        pytest.skip(str(exc))
    svc = tmp_path / "svc"
    svc.mkdir()
    (svc / "go.mod").write_text("module example.com/svc\n\ngo 1.22\n")
    (svc / "main.go").write_text(SERVICE_GO)
    return tmp_path


def test_check_names_the_rules_and_lines_of_the_users_own_file(workspace: Path) -> None:
    code, out, _ = killproof(workspace, "check", "svc")
    main_go = workspace / "svc" / "main.go"
    leak, server = line_of(main_go, "// the leak"), line_of(main_go, "// the server")
    assert out.splitlines()[0].startswith("3 errors, 0 warnings, 0 info; 1 Go file and 0 ")
    found = re.findall(r"^(\S+): error (KP\d+) ([\w-]+):", out, re.M)
    assert sorted(found) == sorted(
        [
            (f"svc/main.go:{leak}:2", "KP109", "unbounded-cache"),
            (f"svc/main.go:{server}:2", "KP101", "sigterm-not-handled"),
            (f"svc/main.go:{server}:2", "KP102", "no-graceful-shutdown"),
        ]
    )
    assert f"    | svc/main.go:{leak}: pages[user] = page" in out
    assert code == 1


@needs_cgroup
def test_drill_then_why_tell_the_user_it_was_killed_and_why(workspace: Path) -> None:
    main_go = workspace / "svc" / "main.go"
    code, out, err = killproof(
        workspace, "drill", "svc", "--memory", "32Mi", "--rate", "200", "--duration", "10s",
        "--port", str(free_port()), "--work-dir", "w", "--no-progress",
    )  # fmt: skip
    assert code == 1, err
    # The cause of death first, then its symptoms.
    assert re.match(r"drill FAIL: svc at 32Mi \([\w-]+\): oom-killed(, memory-leak)?\n", out), out
    route, allocation = line_of(main_go, "// the route"), line_of(main_go, "// the allocation")
    sent = f"GET /profile?user={{n}} (from a route found in the code, svc/main.go:{route}, reading ?user)"
    assert re.search(rf"│ request +│ {re.escape(sent)} +│", out), out
    # Paths as check prints them: relative to where the user stands.
    assert re.search(r"│ command +│ w/bin/svc \(go build of svc\) +│", out), out
    assert re.search(r"│ work_dir +│ w +│", out), out
    pprof = re.search(r"│ read one +│ go tool pprof -top (w/profiles/\S+\.pb\.gz) +│", out)
    assert pprof is not None and (workspace / pprof[1]).is_file(), out
    assert str(workspace) not in out
    killed = re.search(
        rf"^svc/main.go:{allocation} \(drill of svc\): error KP601 oom-killed: killed for memory",
        out,
        re.M,
    )
    assert killed is not None, out
    victim = re.search(
        r"^    \| svc \(pid (\d+)\) OOM-killed at the (/\S+) memory limit$", out, re.M
    )
    if victim is None:
        pytest.skip("the drill's sandbox left no kernel OOM report for why to read")
    pid, memcg = victim[1], victim[2]

    code, out, err = killproof(workspace, "why")
    assert code == 1, err
    ago = r"(just now|\d+ s ago|\d+ min ago)"
    row = rf"│ \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d \({ago}\) +│ KERNEL_OOM_MEMCG +│ {pid} +│ svc +│"
    assert re.search(row, out), out[:3000]
    detail = (
        rf"^dmesg:\d+ \(pid {pid} svc, \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d, {ago}\): error KP701 "
        rf"kernel-oom-memcg: The kernel's OOM killer killed svc \(pid {pid}\) because memory "
        rf"cgroup {re.escape(memcg)} reached its limit of 32\.0 MiB"
    )
    assert re.search(detail, out, re.M), out[:3000]
    assert re.search(r"│ dmesg +│ kernel log +│ \d+ +│", out)
    assert "(s)" not in out.split("\n\n")[0]
