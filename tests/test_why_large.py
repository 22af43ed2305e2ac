"""A 1 GiB journal with a few OOM reports: every kill found, in bounded memory, from a file
(the ripgrep/grep prefilter) and from a pipe (the pure-Python scanner)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from budget import measure

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "kernel" / "5.4-short-iso-memcg.log"
FILLER = b"2024-05-07T21:43:54+0200 k8s-node-2 systemd[1]: Started session-42.scope.\n"
GIB = 1 << 30
PIDS = [44100 + 1000 * i for i in range(1, 6)]
KILLPROOF = [sys.executable, "-m", "killproof.cli"]


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 GiB of journal lines with five OOM reports (distinct victims) spread through it."""
    path = tmp_path_factory.mktemp("large") / "journal.log"
    report = FIXTURE.read_bytes()
    chunk = FILLER * ((64 << 20) // len(FILLER))  # 64 MiB of filler
    with path.open("wb") as out:
        for i in range(GIB // len(chunk)):
            out.write(chunk)
            if i % 3 == 1 and len(PIDS) > i // 3:
                out.write(report.replace(b"44100", str(PIDS[i // 3]).encode()))
    assert path.stat().st_size >= GIB
    return path


def run_child(argv: list[str], pipe_from: Path | None, out: Path) -> tuple[list[int], int]:
    """Victim pids the child reports, and that child's own peak RSS in kB.
    With ``pipe_from``, the child's stdin is a real pipe fed by ``cat``."""
    cat = subprocess.Popen(["cat", str(pipe_from)], stdout=subprocess.PIPE) if pipe_from else None
    with out.open("wb") as sink:
        measured = measure(argv, stdin=cat.stdout if cat else None, stdout=sink)
    if cat is not None:
        assert cat.stdout is not None
        cat.stdout.close()
        cat.wait()
    assert measured.code == 1  # kills were found
    pids = [e["pid"] for e in json.loads(out.read_bytes())["events"]]
    return pids, measured.peak_rss_kb


@pytest.mark.slow
@pytest.mark.parametrize("via", ["file", "pipe"])
def test_a_1gib_journal_streams_in_bounded_memory(journal: Path, tmp_path: Path, via: str) -> None:
    argv = [*KILLPROOF, "why", str(journal) if via == "file" else "-", "--format", "json"]
    pids, peak_kb = run_child(argv, journal if via == "pipe" else None, tmp_path / "out.json")
    assert sorted(pids) == PIDS
    assert peak_kb < 128 * 1024, f"peak RSS {peak_kb} kB for a 1 GiB input"
