"""Drill safety on shared machines: a ledger others can write, ``kill -9`` of killproof,
work dirs, one resolution of the host, and paths an external command could read as options.

Each test reproduces what went wrong (issue 9 "Security" and "Never leave anything
behind", issue 16's sweep-before-port) and asserts what a user would check: which process
is alive, which file exists, which port is free. Root-only tests skip elsewhere.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest

from conftest import REPO, is_root
from killproof.cli import main
from killproof.drill import cgroup, ledger
from killproof.drill.ledger import Entry, LedgerRefused
from killproof.drill.load import LoadModel, LoadPlan, LoadStep, Transport, run_load
from killproof.drill.ready import ProbeKind, ReadyProbe, check_once
from killproof.drill.reaper import launch_argv
from killproof.drill.request_source import single_request
from killproof.drill.run import DrillConfig, run_drill
from killproof.drill.sampler import HttpScraper
from killproof.drill.sandbox import Sandbox, SandboxChoice, SandboxSpec
from killproof.drill.settings import DrillOptions
from killproof.drill.setup import build_config
from killproof.drill.shutdown import ClientTraffic, tcp_open
from killproof.errors import InputError
from killproof.facts.drill import DrillResult

FIXTURES = REPO / "tests" / "fixtures" / "drill"
Build = Callable[[Path], Path]
needs_root = pytest.mark.skipif(not is_root(), reason="needs root (runs the sweep as root)")
needs_cgroup = pytest.mark.skipif(
    not is_root() or cgroup.find_root() is None,
    reason="needs root and a writable memory cgroup",
)


def nobody() -> int:
    """The uid (and gid) of ``nobody``."""
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_pid() -> int:
    """The pid of a process that has exited (a drill killed long ago)."""
    proc = subprocess.Popen(["/bin/true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def sleeper() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start ``sleep 60`` processes in sessions of their own (victims); kill them after."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["/bin/sleep", "60"], start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def alive(proc: subprocess.Popen[bytes]) -> bool:
    """True while ``proc`` runs (a zombie counts as dead)."""
    return cgroup.pid_alive(proc.pid) and proc.poll() is None


def evil_engine(directory: Path) -> tuple[Path, Path]:
    """A script that leaves a marker file when run: (the script, the marker)."""
    marker = directory / "pwned"
    script = directory / "engine.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    return script, marker


# --- where the ledger lives, and which directories are refused ------------------------


def test_the_ledger_lives_where_only_root_or_the_user_can_create_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if is_root():
        assert ledger.default_dir({}) == Path("/run/killproof")
        run = os.stat("/run")
        assert run.st_uid == 0 and run.st_mode & 0o022 == 0  # only root creates in /run
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert ledger.default_dir({"XDG_RUNTIME_DIR": str(tmp_path)}) == tmp_path / "killproof"
    assert ledger.default_dir({}) == Path(tempfile.gettempdir()) / "killproof-drill-1000"


@pytest.mark.parametrize("how", ["someone else's", "group-writable", "a symlink"])
def test_a_ledger_dir_others_could_write_is_refused(
    how: str, tmp_path: Path, sleeper: Callable[[], subprocess.Popen[bytes]]
) -> None:
    if how == "someone else's" and not is_root():
        pytest.skip("needs root to give a directory away")
    real = tmp_path / "ledger"
    real.mkdir(mode=0o700)
    victim = sleeper()
    entry = Entry(owner=dead_pid(), owner_start=0.0, pgid=victim.pid,
                  pgid_start=ledger.start_time(victim.pid))  # fmt: skip
    (real / "1-0.json").write_text(entry.to_json())
    path = real
    if how == "someone else's":
        os.chown(real, nobody(), nobody())
    elif how == "group-writable":
        real.chmod(0o770)
    else:
        path = tmp_path / "link"
        path.symlink_to(real)
    reason = {
        "someone else's": "owned by uid",
        "group-writable": "mode 0770",
        "a symlink": "symlink",
    }
    with pytest.raises(LedgerRefused, match=reason[how]):
        ledger.sweep(path)
    with pytest.raises(LedgerRefused):
        ledger.write(path, "2-0", entry)
    assert alive(victim)
    assert sorted(p.name for p in real.iterdir()) == ["1-0.json"]


def test_a_new_ledger_dir_is_0700_and_owned_by_the_user(tmp_path: Path) -> None:
    os.umask(old := os.umask(0o000))  # a permissive umask must not leak into the mode
    try:
        with ledger.Ledger(tmp_path / "new"):
            pass
    finally:
        os.umask(old)
    st = (tmp_path / "new").stat()
    assert (st.st_uid, st.st_mode & 0o777) == (os.geteuid(), 0o700)


@pytest.mark.root
@needs_root
def test_a_ledger_planted_by_nobody_runs_nothing_and_kills_nothing_as_root(
    sleeper: Callable[[], subprocess.Popen[bytes]],
) -> None:
    """The escalation of issue 9, replayed: ``nobody`` plants a directory and one record
    naming a script as the container engine, a root process group and cgroups; a root
    sweep must refuse the directory, run nothing and kill nothing."""
    shared = Path(tempfile.mkdtemp(prefix="kp-shared-tmp-", dir="/tmp"))
    shared.chmod(0o1777)  # a world-writable, sticky directory, as /tmp is
    victim, in_cgroup = sleeper(), sleeper()
    root = cgroup.find_root()
    victim_cgroup = root.memory / f"kp-victim-{os.getpid()}" if root is not None else None
    try:
        if victim_cgroup is not None:
            victim_cgroup.mkdir()
            (victim_cgroup / "cgroup.procs").write_text(str(in_cgroup.pid))
        planted = shared / "killproof-drill-0"  # where the record lived before
        beside_root_ledger = ledger.default_dir({}).parent / f"kp-probe-{os.getpid()}"
        cgroups = [str(victim_cgroup)] if victim_cgroup else []
        pid = os.fork()
        if pid == 0:  # the attacker: plants, as nobody, what a root drill will read
            code = 1
            try:
                os.setgid(nobody())
                os.setuid(nobody())
                os.mkdir(planted, 0o700)
                script, _ = evil_engine(planted)
                entry = Entry(owner=dead_pid(), owner_start=0.0, pgid=victim.pid,
                              pgid_start=ledger.start_time(victim.pid),
                              cgroup_dirs=(*cgroups, "/sys/fs/cgroup/memory/killproof-drill-1-0"),
                              container="killproof-drill-1-0", engine=str(script),
                              scope="sshd.service")  # fmt: skip
                (planted / "1-0.json").write_text(entry.to_json())
                try:  # and nobody cannot create where root's ledger lives
                    os.mkdir(beside_root_ledger)
                    code = 3
                except PermissionError:
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "planting as nobody failed"
        assert planted.stat().st_uid == nobody()
        with pytest.raises(LedgerRefused, match=f"owned by uid {nobody()}"):
            ledger.sweep(planted)
        assert not (planted / "pwned").exists()  # the engine script never ran
        assert alive(victim) and alive(in_cgroup)
        if victim_cgroup is not None:
            assert str(in_cgroup.pid) in (victim_cgroup / "cgroup.procs").read_text().split()
    finally:
        if victim_cgroup is not None:
            cgroup.remove_dir(victim_cgroup)
        shutil.rmtree(shared, ignore_errors=True)


# --- entries are checked before anything is run, killed or removed --------------------


def test_entries_are_checked_before_anything_is_run_or_killed(
    tmp_path: Path, sleeper: Callable[[], subprocess.Popen[bytes]]
) -> None:
    records = tmp_path / "ledger"
    script, marker = evil_engine(tmp_path)
    victim = sleeper()
    outside = tmp_path / "killproof-drill-1-0"  # looks like a drill cgroup, is not one
    outside.mkdir()
    (outside / "cgroup.procs").write_text(str(victim.pid))
    dead, sneaky = dead_pid(), f"/sys/fs/cgroup/../..{outside}"
    entries = {
        "1-0": Entry(dead, 0.0, container="killproof-drill-1-0", engine=str(script)),
        "2-0": Entry(dead, 0.0, cgroup_dirs=(str(outside),)),
        "3-0": Entry(dead, 0.0, cgroup_dirs=(sneaky,)),
        "4-0": Entry(dead, 0.0, scope="sshd.service"),
        "5-0": Entry(dead, 0.0, container="--help", engine="docker"),
        "6-0": Entry(dead, 0.0, pgid=1, pgid_start=0.0),
    }
    for key, entry in entries.items():
        ledger.write(records, key, entry)
    done = ledger.sweep(records)
    assert done.cleaned == ()
    assert [r.split(":")[0] for r in done.refused] == [f"{k}.json" for k in entries]
    why = dict(r.split(": ", 1) for r in done.refused)
    assert "engine" in why["1-0.json"] and "not one of docker, podman" in why["1-0.json"]
    assert f"not under {os.path.realpath(cgroup.MOUNT)}" in why["2-0.json"]
    assert "not a real path" in why["3-0.json"]
    assert "sshd.service" in why["4-0.json"]
    assert "'--help'" in why["5-0.json"]
    assert "process group 1" in why["6-0.json"]
    assert not marker.exists()
    assert alive(victim)
    assert outside.is_dir() and list(records.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("killproof-drill-7-0", ""),
        ("someone-else", "is not named"),
        ("a/../killproof-drill-7-0", "not a real path"),
        ("link/killproof-drill-7-0", "not a real path"),
    ],
)
def test_only_real_drill_cgroup_paths_under_the_mount_pass(
    tmp_path: Path, name: str, reason: str
) -> None:
    mount = (tmp_path / "cg").resolve()
    (mount / "a").mkdir(parents=True)
    (mount / "link").symlink_to(tmp_path)
    text = f"{mount}/{name}"
    if not reason:
        assert cgroup.checked_drill_dir(text, mount) == Path(text)
        return
    with pytest.raises(ValueError, match=reason):
        cgroup.checked_drill_dir(text, mount)


def test_records_are_never_written_through_a_planted_symlink(tmp_path: Path) -> None:
    records = tmp_path / "ledger"
    with ledger.Ledger(records):
        pass
    shadow = tmp_path / "shadow"
    shadow.write_text("root:x:0:0\n")
    key = f"{os.getpid()}-0"
    for name in (f"{key}.tmp", f".{key}.tmp", f"{key}.json"):
        (records / name).symlink_to(shadow)
    entry = ledger.own_entry()
    ledger.write(records, key, entry)
    assert shadow.read_text() == "root:x:0:0\n"
    record = records / f"{key}.json"
    assert not record.is_symlink() and json.loads(record.read_text())["owner"] == os.getpid()
    assert record.stat().st_mode & 0o777 == 0o600


def test_a_process_group_is_killed_only_when_its_leader_is_the_one_recorded(
    sleeper: Callable[[], subprocess.Popen[bytes]],
) -> None:
    victim = sleeper()
    started = ledger.start_time(victim.pid)
    assert started is not None
    assert ledger.kill_group(victim.pid, None) == []  # no start recorded: not provably ours
    # The leader now running started 100 s after the one recorded: the pid was recycled.
    assert ledger.kill_group(victim.pid, started - 100.0) == []
    assert alive(victim)
    assert ledger.kill_group(victim.pid, started) == [victim.pid]
    assert victim.wait(timeout=5) == -signal.SIGKILL


# --- kill -9 of killproof takes the service, its port and its cgroup with it ----------

DRILL_SCRIPT = "import sys\nfrom killproof.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _ledger_entry(drill_pid: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for path in ledger.default_dir().glob(f"{drill_pid}-*.json"):
            with open(path) as f:
                raw: dict[str, Any] = json.load(f)
            if raw.get("pgid"):
                return raw
        time.sleep(0.05)
    raise AssertionError("the drill never started its service")


@pytest.mark.parametrize(
    "sandbox",
    [pytest.param("auto", marks=[pytest.mark.root, needs_cgroup]), pytest.param("watchdog")],
)
def test_kill_9_of_killproof_takes_the_service_its_port_and_its_cgroup_with_it(
    sandbox: str, go_build: Build, tmp_path: Path
) -> None:
    port = free_port()
    drill = subprocess.Popen(
        [sys.executable, "-c", DRILL_SCRIPT, "drill", "--memory", "64Mi", "--rate", "20",
         "--duration", "60s", "--port", str(port), "--ready", "/readyz",
         "--request", "GET /orders?id={n}", "--sandbox", sandbox,
         "--work-dir", str(tmp_path / "w"), "--no-progress", "--",
         str(go_build(FIXTURES / "clean"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        entry = _ledger_entry(drill.pid)
        service, cgroups = int(entry["pgid"]), [Path(d) for d in entry["cgroup_dirs"]]
        deadline = time.monotonic() + 20
        while not tcp_open("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tcp_open("127.0.0.1", port), "the service never listened"
        assert (sandbox == "auto") == bool(cgroups) and all(d.is_dir() for d in cgroups)
    finally:
        drill.kill()  # what a CI job's timeout does
        drill.wait()
    killed = time.monotonic()
    record = ledger.default_dir() / f"{drill.pid}-0.json"

    def gone() -> bool:
        return not (
            cgroup.pid_alive(service)
            or tcp_open("127.0.0.1", port)
            or any(d.exists() for d in cgroups)
            or record.exists()
        )

    while not gone() and time.monotonic() < killed + 5:
        time.sleep(0.05)
    assert not cgroup.pid_alive(service), "the service outlived killproof"
    assert not tcp_open("127.0.0.1", port), "the port is still taken"
    assert not any(d.exists() for d in cgroups), "the cgroup is still there"
    assert not record.exists(), "the ledger record is still there"


def test_a_closed_sandbox_leaves_no_reaper_and_no_record(tmp_path: Path) -> None:
    spec = SandboxSpec(command=("/bin/sleep", "30"), memory_bytes=64 << 20,
                       choice=SandboxChoice.WATCHDOG, output_dir=tmp_path)  # fmt: skip

    def reapers() -> list[psutil.Process]:
        return [p for p in psutil.Process().children()
                if "killproof.drill.reaper" in " ".join(p.cmdline())]  # fmt: skip

    with Sandbox(spec) as box:
        assert len(reapers()) == 1
        records = list(ledger.default_dir().glob(f"{os.getpid()}-*.json"))
        assert records
        service = box.pid
    assert reapers() == [] and not cgroup.pid_alive(service)
    assert not any(r.exists() for r in records)


def test_the_launcher_joins_and_execs_without_a_shell(tmp_path: Path) -> None:
    odd = tmp_path / "a'b $(touch pwned) \"c"
    odd.mkdir()
    procs = odd / "cgroup.procs"
    procs.write_text("")
    done = subprocess.run(launch_argv(["/bin/sh", "-c", "echo $$"], [procs]), cwd=tmp_path,
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert procs.read_text() == done.stdout.strip()  # the pid that exec'd is the one joined
    assert not (tmp_path / "pwned").exists()


# --- the ledger is swept before the port is judged taken ------------------------------


def _short_drill(binary: Path, tmp_path: Path, port: int, **overrides: object) -> DrillResult:
    fields: dict[str, object] = {
        "command": (str(binary),),
        "memory_bytes": 64 << 20,
        "port": port,
        "ready": ReadyProbe(ProbeKind.HTTP, port=port, path="/readyz"),
        "requests": single_request("GET /orders?id={n}"),
        "steps": (LoadStep(20, 1),),
        "work_dir": tmp_path / "drill",
        "sandbox": SandboxChoice.WATCHDOG,
        "shutdown_test": False,
        "connections": 4,
        "read_kernel_log": False,
    }
    fields.update(overrides)
    return run_drill(DrillConfig(**fields))  # type: ignore[arg-type]


LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
    "print('listening', flush=True); time.sleep(60)\n"
)


def test_what_a_killed_drill_left_on_the_port_is_swept_before_the_port_check(
    go_build: Build, tmp_path: Path
) -> None:
    port = free_port()
    holder = subprocess.Popen([sys.executable, "-c", LISTEN, str(port)], stdout=subprocess.PIPE,
                              start_new_session=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"listening\n"
        owner = dead_pid()
        left = Entry(owner=owner, owner_start=0.0, pgid=holder.pid,
                     pgid_start=ledger.start_time(holder.pid))  # fmt: skip
        ledger.write(ledger.default_dir(), f"{owner}-0", left)
        result = _short_drill(go_build(FIXTURES / "clean"), tmp_path, port)
        assert result.ready and result.steps and result.steps[0].completed > 0
        assert any(f"drill of pid {owner}" in n for n in result.notes)
        assert holder.wait(timeout=5) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


# --- work dirs ------------------------------------------------------------------------


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A temporary directory of this test's own, where work dirs would appear."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_a_refused_drill_leaves_no_work_dir(private_tmp: Path, tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    refused = [
        ["--memory", "lots", "--", "/bin/sleep", "5"],
        ["--rate", "10", "--ramp", "1..2/2s", "--", "/bin/sleep", "5"],
        ["--host", "10.1.2.3", "--", "/bin/sleep", "5"],
        ["--port", str(busy.getsockname()[1]), "--", "/bin/sleep", "5"],
        ["--port", str(free_port()), "--", str(tmp_path / "no-such-service")],
    ]
    try:
        codes = [main(["drill", "--no-progress", *argv]) for argv in refused]
    finally:
        busy.close()
    assert codes == [2] * len(refused)
    assert list(private_tmp.iterdir()) == []


def test_a_passing_drill_that_cites_nothing_leaves_no_work_dir(
    private_tmp: Path, tmp_path: Path
) -> None:
    port, site, out = free_port(), tmp_path / "site", tmp_path / "report.json"
    site.mkdir()
    (site / "index.html").write_text("ok\n")
    code = main(["drill", "--memory", "128Mi", "--sandbox", "watchdog", "--rate", "20",
                 "--duration", "1s", "--port", str(port), "--ready", "tcp", "--request", "GET /",
                 "--no-shutdown-test", "--no-progress", "-f", "json", "-o", str(out), "--",
                 sys.executable, "-m", "http.server", "-d", str(site), "-b", "127.0.0.1",
                 str(port)])  # fmt: skip
    report = json.loads(out.read_text())
    assert (code, report["verdict"], report["profiles"]) == (0, "pass", [])
    assert list(private_tmp.iterdir()) == []
    assert "killproof-drill-run-" not in out.read_text()


def test_a_drill_with_heap_profiles_keeps_its_work_dir_and_names_it(
    private_tmp: Path, tmp_path: Path, go_build: Build
) -> None:
    out = tmp_path / "report.json"
    code = main(["drill", "--memory", "64Mi", "--sandbox", "watchdog", "--rate", "20",
                 "--duration", "1s", "--port", str(free_port()), "--ready", "/readyz",
                 "--request", "GET /orders?id={n}", "--no-shutdown-test", "--no-progress",
                 "-f", "json", "-o", str(out), "--", str(go_build(FIXTURES / "clean"))])  # fmt: skip
    text = out.read_text()
    report = json.loads(text)
    (kept,) = private_tmp.glob("killproof-drill-run-*")
    assert code == 0 and report["profiles"]
    assert str(kept) in text
    assert all(Path(p["path"]).is_relative_to(kept) for p in report["profiles"])


def test_a_relative_work_dir_cannot_turn_the_binary_into_an_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_drill_linked import repo

    root = repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    config, _ = build_config(DrillOptions(target=(str(root),), port=18994), Path("-w"))
    assert Path(config.command[0]).is_absolute() and Path(config.command[0]).is_file()
    assert config.work_dir == tmp_path / "-w"


@pytest.mark.parametrize("command", [("-rf", "/"), ("no-such-program-kp",), ("./missing",)])
def test_a_command_read_as_an_option_or_missing_is_a_usage_error(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    spec = SandboxSpec(command=command, memory_bytes=64 << 20, choice=SandboxChoice.WATCHDOG,
                       output_dir=tmp_path, workdir=tmp_path)  # fmt: skip
    with pytest.raises(InputError, match=r"begin with '-'|no such executable"):
        Sandbox(spec)


# --- resolved once, connected to the checked address ----------------------------------

NAME = "kp-drill-target.invalid"


@pytest.fixture
def resolved_once(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``NAME`` resolves to 127.0.0.1 the first time and to a TEST-NET address after that
    (a name an attacker re-points between the check and the connection); the lookups of
    ``NAME`` are recorded."""
    real = socket.getaddrinfo
    calls: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == NAME:
            calls.append(host)
            return real("127.0.0.1" if len(calls) == 1 else "192.0.2.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_a_drill_resolves_its_host_once_and_connects_to_that_address(
    resolved_once: list[str], go_build: Build, tmp_path: Path
) -> None:
    opts = DrillOptions(target=(str(go_build(FIXTURES / "clean")),), host=NAME,
                        port=free_port(), memory="64Mi", sandbox="watchdog", rate="200",
                        duration="2s", ready="/readyz", request="GET /orders?id={n}",
                        grace="5s")  # fmt: skip
    config, _ = build_config(opts, tmp_path / "w")
    assert (config.address, config.env["ADDR"]) == ("127.0.0.1", "127.0.0.1")
    result = run_drill(replace(config, read_kernel_log=False))
    assert resolved_once == [NAME]
    assert result.ready and result.steps[0].completed > 0 and not result.steps[0].errors
    assert any(s.goroutines for s in result.samples)  # the sampler reached /metrics
    assert result.shutdown is not None and result.shutdown.ok_after_signal > 0


class _HostRecorder(http.server.BaseHTTPRequestHandler):
    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hosts.append(self.headers.get("Host", ""))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        del args


def test_every_client_connects_to_the_checked_address_and_names_the_host(
    resolved_once: list[str],
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    resolved_once.append("the check")  # any lookup of NAME from now on lands on 192.0.2.1
    want = f"{NAME}:{port}"
    try:
        assert check_once(ReadyProbe(ProbeKind.HTTP, port, "/ready", host=NAME,
                                     address="127.0.0.1")) == (True, "HTTP 200")  # fmt: skip
        assert HttpScraper(NAME, port, address="127.0.0.1").get("/metrics") == b"ok"
        for transport, step in [(Transport.HTTP1, LoadStep(20, 0.5)),
                                (Transport.HTTP1, LoadStep(0, 0.3, LoadModel.CLOSED)),
                                (Transport.AIOHTTP, LoadStep(20, 0.5))]:  # fmt: skip
            plan = LoadPlan(f"http://{NAME}:{port}", single_request("GET /load"), (step,),
                            connections=2, timeout_s=2.0, transport=transport,
                            address="127.0.0.1")  # fmt: skip
            result = asyncio.run(run_load(plan))
            assert result.steps[0].completed > 0 and not result.steps[0].errors, transport
        traffic = ClientTraffic(port, "/drain", workers=1, host=NAME, address="127.0.0.1")
        traffic.start()
        time.sleep(0.2)
        assert traffic.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert resolved_once == ["the check"]
    assert _HostRecorder.hosts and set(_HostRecorder.hosts) == {want}
