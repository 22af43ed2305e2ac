"""``killproof why`` on hostile and broken inputs: never a hang, a crash or a lost result.

Every case runs the CLI in a child under a wall-time and memory budget (tests/budget.py)
and asserts how it ended: the exit status (2 for an input it cannot use, with one line
naming the file; 0/1 for a verdict), and, where the input still holds a kill, that kill.
Among several inputs an unusable one is a skipped entry and the others' kills stand.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import json
import lzma
import os
import random
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from budget import KILLPROOF, Outcome, run_cli
from killproof.cli import main
from killproof.sources.logscan import Prefilter, available_prefilters, scan_path
from killproof.why.run import MAX_OBSERVATIONS, line_parsers

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kernel"
KERNEL = FIXTURES / "5.4-short-iso-memcg.log"  # one memcg kill: payments, pid 44100
VICTIM = 44100
TWO_KILLS = FIXTURES / "6.1-two-kills-one-second.log"  # pids 4410 and 4420
MIB = 1 << 20


def why_json(*inputs: str | Path, seconds: float = 30, mib: int = 1024, **kw: Any) -> Outcome:
    """``killproof why INPUTS --format json`` under a budget."""
    return run_cli(["why", *inputs, "--format", "json"], seconds=seconds, mib=mib, **kw)


def pids(out: Outcome) -> list[int | None]:
    """The victims a JSON report names, in order."""
    return [e["pid"] for e in json.loads(out.stdout)["events"]]


def skipped(out: Outcome) -> list[tuple[str, str]]:
    """The report's skipped entries as (what, reason)."""
    return [(s["what"], s["reason"]) for s in json.loads(out.stdout)["skipped"]]


def refused(out: Outcome, path: str | Path, reason: str) -> None:
    """The run ended with exit 2 and one line ``killproof: PATH…: …REASON…``."""
    assert out.code == 2, out.stdout + out.stderr
    line = out.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, out.stderr
    assert line.startswith(f"killproof: {path}"), line
    assert reason in line, line


def random_text(rng: random.Random, size: int) -> bytes:
    """Log-like lines that do not compress away (no anchor word in them)."""
    words = ["alpha", "beta", "gamma", "delta", "node", "request", "served", "ok", "GET"]
    out = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(words) + str(rng.randrange(10**6)) for _ in range(12))
        out.append(line)
        total += len(line) + 1
    return ("\n".join(out) + "\n").encode()


# -- Never crash, never lose the rest ------------------------------------------------------


CORRUPT = {
    # zlib.error: a gzip header, then a deflate stream that is not one
    "bad-deflate.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbagegarbage",
    # BadGzipFile: the magic, then an unknown compression method
    "bad-method.gz": b"\x1f\x8b\x63\x00" + b"\x00" * 20,
    "garbage.xz": b"\xfd7zXZ\x00" + b"garbage" * 10,
    "garbage.bz2": b"BZh91AY&SY" + b"garbage" * 10,
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_compressed_file_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(CORRUPT[name])
    refused(why_json(bad), bad, "corrupt compressed file")


def test_truncated_gzip_keeps_the_kill_read_before_the_damage(tmp_path: Path) -> None:
    log = KERNEL.read_bytes() + random_text(random.Random(7), 2 * MIB) + TWO_KILLS.read_bytes()
    packed = gzip.compress(log)
    cut = tmp_path / "kern.log.2.gz"
    cut.write_bytes(packed[: len(packed) // 2])  # the first kill is in, the last two are not
    out = why_json(cut)
    assert out.code == 1, out.stderr
    assert pids(out) == [VICTIM]
    [(what, reason)] = skipped(out)
    assert what == str(cut)
    assert reason.startswith("read up to the damage (1 observation kept), then: corrupt")


def test_a_bad_input_among_good_ones_is_skipped_and_the_kills_stand(tmp_path: Path) -> None:
    bad = tmp_path / "kern.log.1.gz"
    bad.write_bytes(CORRUPT["bad-deflate.gz"])
    binary = tmp_path / "wtmp"
    binary.write_bytes(b"\x07\x00\x00\x00\x8c\x05\x00\x00pts/0\x00\x00\x00ts/0root\x00" * 200)
    out = why_json(KERNEL, bad, binary, TWO_KILLS)
    assert out.code == 1  # kills are findings
    assert pids(out) == [4420, 4410, VICTIM]  # newest first
    assert skipped(out) == [
        (
            str(bad),
            "corrupt compressed file: Error -3 while decompressing data: invalid block type",
        ),
        (str(binary), "binary file, not a log or a Kubernetes document"),
    ]


def test_when_no_input_can_be_read_the_answer_is_exit_2_not_no_kill(tmp_path: Path) -> None:
    one, two = tmp_path / "a.gz", tmp_path / "b.gz"
    one.write_bytes(CORRUPT["bad-deflate.gz"])
    two.write_bytes(CORRUPT["garbage.xz"])
    out = why_json(one, two)
    assert out.code == 2
    assert out.stderr.strip() == (
        f"killproof: none of the 2 inputs could be read; first: {one}: corrupt compressed "
        "file: Error -3 while decompressing data: invalid block type"
    )


def _writer(fifo: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("packed", [False, True])
def test_a_fifo_is_read_without_seeking(tmp_path: Path, packed: bool) -> None:
    fifo = tmp_path / "kern.fifo"
    os.mkfifo(fifo)
    data = KERNEL.read_bytes()
    writer = _writer(fifo, gzip.compress(data) if packed else data)
    out = why_json(fifo)
    writer.join(5)
    assert out.code == 1, out.stderr
    assert pids(out) == [VICTIM]


def test_process_substitution_is_read(tmp_path: Path) -> None:
    # `killproof why <(cat log)`: the shell hands over /dev/fd/N, a pipe that cannot seek.
    command = " ".join(KILLPROOF) + f" why <(cat {KERNEL}) <(gzip -c {TWO_KILLS}) --format json"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert [e["pid"] for e in json.loads(proc.stdout)["events"]] == [
        4420,
        4410,
        VICTIM,
    ]  # newest first


def test_a_read_error_from_proc_is_one_line_naming_the_file() -> None:
    # Reading /proc/self/mem at offset 0 fails with EIO (nothing is mapped there).
    refused(why_json("/proc/self/mem"), "/proc/self/mem", "cannot read: Input/output error")


class _FailingFile(io.BufferedReader):
    """A file whose reads fail with ``error`` from byte offset ``after`` on."""

    def __init__(self, raw: io.FileIO, after: int, error: int) -> None:
        super().__init__(raw)
        self.after, self.error = after, error

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= self.after:
            raise OSError(self.error, os.strerror(self.error))
        return super().read(size if size is not None and size >= 0 else -1)


@pytest.mark.parametrize("error", [errno.EIO, errno.EINVAL])
def test_read_errors_mid_file_are_skipped_entries(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: int,
) -> None:
    # /sys and /proc files fail like this (EINVAL, EIO) after a first read succeeded.
    late = tmp_path / "late.log"  # a kill, then a read error
    late.write_bytes(TWO_KILLS.read_bytes() + random_text(random.Random(1), 6 * MIB))
    early = tmp_path / "early.log"  # a read error before anything
    early.write_bytes(KERNEL.read_bytes())
    failing = {late.name: 64 << 10, early.name: 0}
    real_open = Path.open

    def fake_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name in failing:
            return _FailingFile(io.FileIO(self, "r"), failing[self.name], error)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", fake_open)
    code = main(["why", str(KERNEL), str(late), str(early), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [e["pid"] for e in out["events"]] == [4420, 4410, VICTIM]  # newest first
    why = os.strerror(error)
    assert [(s["what"], s["reason"]) for s in out["skipped"]] == [
        (str(late), f"read up to the damage (2 observations kept), then: cannot read: {why}"),
        (str(early), f"cannot read: {why}"),
    ]


def _pod(depth: int, reason: str = "OOMKilled", code: object = 137) -> str:
    nest = "[" * depth + "]" * depth
    return (
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "deep", "namespace": "n"},\n'
        ' "status": {"containerStatuses": [{"name": "app", "extra": ' + nest + ",\n"
        '  "lastState": {"terminated": {"reason": "'
        + reason
        + '", "exitCode": '
        + str(code)
        + "}}}]}}\n"
    )


def test_pod_json_nested_600_deep_still_reports_its_kill(tmp_path: Path) -> None:
    pod = tmp_path / "pod.json"
    pod.write_text(_pod(600))  # deeper than the line-keeping reader's stack: no line numbers
    out = why_json(pod)
    assert out.code == 1, out.stderr
    [event] = json.loads(out.stdout)["events"]
    assert (event["pod"], event["container"], event["cause"]) == ("deep", "app", "K8S_OOMKILLED")


def test_json_nested_past_the_decoder_is_refused_and_others_stand(tmp_path: Path) -> None:
    pod = tmp_path / "pod.json"
    pod.write_text(_pod(5000))
    refused(why_json(pod), f"{pod}:1", "JSON nested too deeply")
    out = why_json(KERNEL, pod)
    assert (out.code, pids(out)) == (1, [VICTIM])
    assert skipped(out) == [(str(pod), "line 1: JSON nested too deeply")]


def test_yaml_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "pod.yaml"
    doc.write_text("apiVersion: v1\nkind: Pod\nstatus:\n  x: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(why_json(doc), doc, "nested too deeply")


def test_5000_digit_numbers_are_not_numbers(tmp_path: Path) -> None:
    huge = "9" * 5000
    log = tmp_path / "kern.log"
    log.write_text(
        f"[ 1.000000] Memory cgroup out of memory: Killed process {huge} (x) "
        f"total-vm:{huge}kB, anon-rss:{huge}kB, file-rss:0kB\n"
        f"6,1,{huge},-;Out of memory: Killed process 77 (y) total-vm:{huge}kB\n"
        f"[{huge}.000000] oom_reaper: reaped process {huge} (x)\n" + KERNEL.read_text()
    )
    out = why_json(log)
    assert out.code == 1, out.stderr
    assert pids(out) == [VICTIM, 77]  # newest first; the 5000-digit pid is not a pid
    pod = tmp_path / "pod.json"
    pod.write_text(_pod(1, code=huge))
    out = why_json(pod)
    assert out.code == 1, out.stderr
    [event] = json.loads(out.stdout)["events"]
    assert (event["pod"], event["cause"], event["exit_code"]) == ("deep", "K8S_OOMKILLED", None)


# -- NUL bytes and binary input -----------------------------------------------------------

NULS = b"\x00" * (64 << 10)


def _with_nuls(where: str) -> bytes:
    lines = KERNEL.read_bytes().splitlines(keepends=True)
    if where == "appended":  # an unclean shutdown: the last blocks zero-filled
        return b"".join(lines) + NULS
    if where == "prepended":  # copytruncate while the writer kept its offset
        return NULS + b"".join(lines)
    if where == "between-lines":
        return b"".join(lines[:8]) + NULS + b"".join(lines[8:])
    # inside the victim line itself
    victim = next(i for i, x in enumerate(lines) if b"Killed process" in x)
    line = lines[victim]
    lines[victim] = line[:40] + NULS + line[40:]
    return b"".join(lines)


@pytest.mark.parametrize("where", ["appended", "prepended", "between-lines", "inside-a-line"])
def test_a_kernel_log_with_nul_runs_keeps_its_kill(tmp_path: Path, where: str) -> None:
    log = tmp_path / "kern.log"
    log.write_bytes(_with_nuls(where))
    out = why_json(log)
    assert out.code == 1, out.stderr
    assert pids(out) == [VICTIM]
    # through a pipe and through gzip the same
    assert pids(why_json("-", stdin=log.read_bytes())) == [VICTIM]
    packed = tmp_path / "kern.log.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    assert pids(why_json(packed)) == [VICTIM]


@pytest.mark.parametrize("where", ["prepended", "between-lines", "inside-a-line"])
@pytest.mark.parametrize("prefilter", [p for p in available_prefilters() if p != Prefilter.PYTHON])
def test_external_prefilters_skip_nul_runs_too(
    tmp_path: Path, where: str, prefilter: Prefilter
) -> None:
    log = tmp_path / "kern.log"
    log.write_bytes(_with_nuls(where))
    events = list(scan_path(log, line_parsers(str(log)), prefilter))
    assert [e.pid for e in events if e.killed] == [VICTIM]


def test_random_bytes_are_binary(tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(random.Random(3).randbytes(MIB))
    refused(why_json(noise), noise, "binary file, not a log or a Kubernetes document")


def test_a_systemd_journal_file_is_named_with_the_way_to_read_it(tmp_path: Path) -> None:
    journal = tmp_path / "system.journal"
    journal.write_bytes(b"LPKSHHRH\x00\x00\x00\x00" + KERNEL.read_bytes())
    refused(why_json(journal), journal, "a systemd journal file; give its text: journalctl")


def test_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    refused(why_json("/dev/zero", seconds=10, mib=512), "/dev/zero", "a device, not a log file")


def test_endless_nuls_on_stdin_stop_after_64_mib() -> None:
    out = why_json("-", stdin=b"\x00" * (65 * MIB), seconds=30, mib=512)
    refused(out, "<stdin>", "nothing but NUL bytes in its first 64 MiB")


# -- Never hang: sizes ------------------------------------------------------------------------


def _pod_item(i: int, oom: bool) -> dict[str, Any]:
    last = {"terminated": {"reason": "OOMKilled", "exitCode": 137}} if oom else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"web-{i}", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "nodeName": f"node-{i % 40}",
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/web:1.2.3",
                    "env": [{"name": f"VAR_{k}", "value": "x" * 40} for k in range(12)],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "app", "restartCount": 3 if oom else 0, "lastState": last}
            ],
        },
    }


@pytest.mark.slow
def test_a_pod_list_over_64_mb_is_streamed_and_its_kill_found(tmp_path: Path) -> None:
    items = [_pod_item(i, oom=(i == 30_000)) for i in range(36_000)]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=4)
    assert len(text) > 64 * MIB  # before: scanned as a log, "No kill found", exit 0
    pods = tmp_path / "pods.json"
    pods.write_text(text)
    out = why_json(pods, seconds=120, mib=1536)
    assert out.code == 1, out.stderr
    [event] = json.loads(out.stdout)["events"]
    assert (event["pod"], event["container"], event["cause"]) == (
        "web-30000",
        "app",
        "K8S_OOMKILLED",
    )
    reason_line = text.count("\n", 0, text.index('"OOMKilled"')) + 1
    assert [e["line"] for e in event["evidence"]] == [reason_line, reason_line + 1]
    assert out.peak_rss_kb < 1024 * 1024  # not the whole document in memory


def test_a_yaml_document_over_the_limit_is_refused_with_a_hint(tmp_path: Path) -> None:
    doc = tmp_path / "pods.yaml"
    item = "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: web\n"
    doc.write_text("apiVersion: v1\nkind: List\nitems:\n" + item * (9 * MIB // len(item)))
    refused(why_json(doc, seconds=20), doc, "a YAML document over 8 MiB; give it as JSON")


def test_a_yaml_alias_bomb_is_harmless(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    doc = tmp_path / "pod.yaml"
    doc.write_text(
        "bombs:\n"
        + "".join(f"  {x}\n" for x in levels)
        + "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bomb\nstatus:\n  reason: *a9\n"
        + "  message: *a9\n  containerStatuses:\n  - name: app\n    lastState:\n"
        + "      terminated:\n        reason: OOMKilled\n        exitCode: 137\n"
        + "        message: *a9\n"
    )
    out = why_json(doc, seconds=20, mib=512)
    assert out.code == 1, out.stderr
    [event] = json.loads(out.stdout)["events"]
    assert (event["pod"], event["cause"]) == ("bomb", "K8S_OOMKILLED")


def test_huge_lines_and_bad_utf8_around_a_kill(tmp_path: Path) -> None:
    log = tmp_path / "kern.log"
    junk = b"Killed process (" * (2 * MIB // 16)  # one 2 MiB line full of an anchor
    latin1 = "Stra\xdfe m\xfcde, caf\xe9\n".encode("latin-1")
    log.write_bytes(junk + b"\n\xff\xfe\xc3\n" + latin1 + KERNEL.read_bytes() + junk + b"\n")
    out = why_json(log, seconds=20, mib=768)
    assert out.code == 1, out.stderr
    assert pids(out) == [VICTIM]
    assert len(out.stdout) < MIB


def test_a_million_kill_lines_stay_within_budget(tmp_path: Path) -> None:
    log = tmp_path / "bare.log"
    log.write_bytes(b"Killed\n" * 1_000_000)
    out = why_json(log, seconds=60, mib=1024)
    assert out.code == 1, out.stderr
    report = json.loads(out.stdout)
    [event] = report["events"]  # one death as far as the input can tell
    assert event["signal"] == "SIGKILL"
    assert skipped(out) == [
        (
            str(log),
            f"read in part: at most {MAX_OBSERVATIONS} kill observations are read in one run",
        )
    ]


def test_a_symlink_loop_is_one_line(tmp_path: Path) -> None:
    loop = tmp_path / "loop.log"
    loop.symlink_to(tmp_path / "other.log")
    (tmp_path / "other.log").symlink_to(loop)
    refused(why_json(loop), loop, "cannot read: Too many levels of symbolic links")


def test_a_directory_a_missing_file_and_a_too_long_name_are_one_line(tmp_path: Path) -> None:
    refused(why_json(tmp_path), tmp_path, "is a directory")
    refused(why_json(tmp_path / "nope"), tmp_path / "nope", "cannot read: No such file")
    long = tmp_path / ("a" * 5000)
    refused(why_json(long), long, "cannot read: File name too long")  # was a traceback


def test_compressed_bombs_are_read_in_constant_memory(tmp_path: Path) -> None:
    # 256 MiB of NULs in 256 KiB of xz, and 256 MiB of one repeated line in bzip2.
    zeros = tmp_path / "zeros.xz"
    zeros.write_bytes(lzma.compress(b"\x00" * (256 * MIB)))
    refused(why_json(zeros, seconds=60, mib=512), zeros, "nothing but NUL bytes")
    lines = tmp_path / "lines.bz2"
    lines.write_bytes(bz2.compress(b"nothing to see here\n" * (16 * MIB // 20)))
    out = why_json(lines, seconds=60, mib=512)
    assert (out.code, pids(out)) == (0, [])


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_stdin_in_small_pieces_is_read_like_a_file() -> None:
    # A slow writer: the type sniffing sees a few bytes at a time.
    proc = subprocess.Popen(
        [*KILLPROOF, "why", "-", "--format", "json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    for piece in _chunks(gzip.compress(KERNEL.read_bytes()), 3):
        proc.stdin.write(piece)
        proc.stdin.flush()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert [e["pid"] for e in json.loads(out)["events"]] == [VICTIM]


def test_terminal_escapes_in_a_log_never_reach_the_report(tmp_path: Path) -> None:
    # A victim name and a line carrying "retitle the terminal", "clear the screen", a
    # carriage return and a right-to-left override: shown escaped, never sent as themselves.
    log = tmp_path / "kern.log"
    log.write_bytes(
        b"[ 5216.896762] Memory cgroup out of memory: Killed process 16127 "
        b"(ord\x1b]0;pwned\x07ers) total-vm:1333696kB, anon-rss:64896kB, file-rss:6640kB\n"
        b"./run.sh: line 1:  4242 Killed  ./api\x1b[2J\r\xe2\x80\xaefoo --port 1\n"
    )
    out = run_cli(["why", log], seconds=20, mib=512)
    assert out.code == 1, out.stderr
    assert not any(c in out.stdout for c in "\x1b\x07\r\u202e")
    assert "ord\\x1b]0;pwned\\x07ers (pid 16127)" in out.stdout
    assert "api\\x1b[2J\\x0d\\u202efoo" in out.stdout
