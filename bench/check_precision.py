"""Precision of ``killproof check`` on public Go projects, against hand judgments.

    .venv/bin/python bench/check_precision.py [--set SET|all] [--project NAME]
        [--src DIR] [--markdown FILE] [--dump DIR] [--keep DIR] [--unjudged]

For each project in ``bench/precision/projects.json`` (name, repo, commit, set) the tree
at that commit is exported from its fetched mirror (``/work/.mirror/owner+name``) into a
temporary directory, ``killproof check --format json`` runs on it with ``PYTHONPATH``
set to ``--src`` (this worktree's ``src`` by default, so the same judgments re-measure
newer code), and every finding is matched to a hand judgment in
``bench/precision/judgments*.json`` (``judgments.json`` for dev, ``judgments-SET.json`` for
each held-out set such as ``heldout3``; verdict true/false/debatable and a reason). ``--set``
takes any set named in the projects file, or ``all``.

Matching survives small edits: a judgment matches a finding of the same rule and path
whose message fingerprint (digits, quotes and spacing normalised) is equal; failing
that, the same subject; failing that, a line within a few lines. The nearest line
decides between candidates, and each judgment is used once.

Projects with many findings are judged on a sample: every ``error`` plus the
``--sample`` (30) non-error findings that come first in a fixed hash order, so a re-run
judges the same findings and only new ones show up as unjudged.

Prints per-rule and per-project precision (true / (true + false); debatable counted
apart), the overall figure, and the findings in the sample that have no judgment yet.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "precision"
MIRRORS = Path("/work/.mirror")
VERDICTS = ("true", "false", "debatable")
LINE_SLACK = 6  # lines a judged finding may move and still be the same finding
SUBJECT_SLACK = 60  # lines, when the subject (not the message) identifies it


@dataclass(frozen=True)
class Project:
    """One public repository at one commit; ``set`` is ``dev`` or a held-out set (``heldout*``)."""

    name: str
    repo: str
    commit: str
    set: str
    kind: str = ""


@dataclass(frozen=True)
class Finding:
    """The part of a ``check`` JSON finding that identifies it."""

    rule: str
    severity: str
    path: str
    line: int
    subject: str
    message: str

    @property
    def fingerprint(self) -> str:
        """The message with the parts that change between runs normalised away."""
        return fingerprint(self.message)


@dataclass(frozen=True)
class Judgment:
    """A hand verdict on one finding, with the reason (one line)."""

    rule: str
    path: str
    line: int
    subject: str
    message: str
    verdict: str
    reason: str
    kind: str = ""  # for false findings: which false-positive kind (docs/precision.md)

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the judged finding's message."""
        return fingerprint(self.message)


@dataclass
class Outcome:
    """The findings of one project and the judgment each was matched to (or None)."""

    project: Project
    findings: list[Finding]
    sample: set[int]
    verdicts: dict[int, Judgment]
    wall_seconds: float
    metadata: dict[str, object] = field(default_factory=dict)
    skipped: int = 0

    def weight(self, index: int) -> float:
        """How many of the project's findings the judged finding ``index`` stands for.

        Every error is judged, so an error stands for itself; a sampled non-error
        finding stands for its share of all the project's non-error findings.
        """
        if self.findings[index].severity == "error":
            return 1.0
        others = sum(1 for f in self.findings if f.severity != "error")
        sampled = sum(1 for i in self.sample if self.findings[i].severity != "error")
        return others / sampled if sampled else 0.0


_QUOTED = re.compile(r"`[^`]*`|'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+(\.\d+)?")


def fingerprint(message: str) -> str:
    """Lower-case message with quoted text, numbers and runs of spaces normalised.

    Quoted text keeps its words but not its punctuation, so a rule that changes its
    quoting style still matches; numbers (line numbers, sizes) become ``#``.
    """
    text = _QUOTED.sub(lambda m: " " + re.sub(r"[^\w.]+", " ", m.group(0)) + " ", message)
    text = _NUMBER.sub("#", text.lower())
    return " ".join(re.sub(r"[^\w#./-]+", " ", text).split())


def sample_key(project: str, f: Finding) -> str:
    """Fixed pseudo-random order of findings within a project (line-independent)."""
    raw = f"{project}|{f.rule}|{f.path}|{f.subject}|{f.fingerprint}"
    return hashlib.sha1(raw.encode()).hexdigest()


def choose_sample(project: str, findings: Sequence[Finding], size: int) -> set[int]:
    """Indexes of the findings to judge: every error plus ``size`` others in hash order."""
    chosen = {i for i, f in enumerate(findings) if f.severity == "error"}
    others = sorted(
        (i for i, f in enumerate(findings) if f.severity != "error"),
        key=lambda i: sample_key(project, findings[i]),
    )
    chosen.update(others[:size])
    return chosen


def match(findings: Sequence[Finding], judgments: Sequence[Judgment]) -> dict[int, Judgment]:
    """Pair findings with judgments: same rule and path, then message, subject or line.

    Tiers run in order (exact line and message; message; subject; nearby line) and each
    judgment is used once, except that identical findings share the judgment of their
    twin. Within a tier the pairs with the smallest line distance are taken first.
    """
    paired: dict[int, Judgment] = {}
    used: set[int] = set()
    tiers: list[tuple[str, int]] = [
        ("exact", 0),
        ("message", 10**9),
        ("subject", SUBJECT_SLACK),
        ("line", LINE_SLACK),
    ]
    for tier, slack in tiers:
        candidates: list[tuple[int, int, int]] = []
        for fi, f in enumerate(findings):
            if fi in paired:
                continue
            for ji, j in enumerate(judgments):
                if j.rule != f.rule or j.path != f.path:
                    continue
                distance = abs(j.line - f.line)
                if distance > slack or not _same(tier, f, j):
                    continue
                candidates.append((distance, fi, ji))
        for _distance, fi, ji in sorted(candidates):
            if fi in paired or (ji in used and tier != "exact"):
                continue
            paired[fi] = judgments[ji]
            used.add(ji)
    return paired


def _same(tier: str, f: Finding, j: Judgment) -> bool:
    """Whether finding and judgment agree on what the tier compares."""
    if tier in ("exact", "message"):
        return f.fingerprint == j.fingerprint
    if tier == "subject":
        return bool(f.subject) and f.subject == j.subject
    return True


def load_projects(path: Path) -> list[Project]:
    """Projects from the list file."""
    return [Project(**p) for p in json.loads(path.read_text())]


def load_judgments(paths: Iterable[Path]) -> dict[str, list[Judgment]]:
    """Judgments per project name from every existing judgments file."""
    out: dict[str, list[Judgment]] = defaultdict(list)
    for path in paths:
        if not path.exists():
            continue
        for name, items in json.loads(path.read_text()).items():
            for item in items:
                j = Judgment(**item)
                if j.verdict not in VERDICTS:
                    raise SystemExit(f"{path}: {name}: verdict {j.verdict!r} not in {VERDICTS}")
                out[name].append(j)
    return out


def mirror_git_dir(repo: str, root: Path) -> Path:
    """The bare git directory ``fetch`` made for ``owner/name``."""
    base = root / repo.replace("/", "+")
    return base / "repo" if (base / "repo").is_dir() else base


def export_tree(git_dir: Path, commit: str, dest: Path) -> int:
    """Write the files of ``commit`` under ``dest``; return how many were absent.

    Snapshots lack their largest blobs, so ``git archive`` would stop at the first one;
    this writes every blob that is present and skips symlinks and submodules.
    """
    git = ["git", f"--git-dir={git_dir}"]
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "-z", "--full-tree", commit],
        capture_output=True,
        check=True,
    ).stdout
    entries: list[tuple[str, str]] = []
    for raw in listing.split(b"\0"):
        if not raw:
            continue
        meta, _, raw_name = raw.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        if kind == "blob" and mode in ("100644", "100755"):
            entries.append((sha, raw_name.decode("utf-8", "surrogateescape")))
    proc = subprocess.Popen(
        [*git, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    missing = 0
    for sha, name in entries:
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            missing += 1
            continue
        data = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    proc.stdin.close()
    proc.wait()
    return missing


def run_check(tree: Path, src: Path) -> tuple[dict[str, object], float]:
    """``killproof check --format json`` on ``tree`` with ``src`` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(src))
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "killproof.cli", "check", "--format", "json", "-o", out.name],
            cwd=tree,
            check=False,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            raise SystemExit(f"check failed on {tree} ({proc.returncode}): {proc.stderr[-2000:]}")
        report: dict[str, object] = json.loads(Path(out.name).read_text())
    return report, wall


def findings_of(report: dict[str, object]) -> list[Finding]:
    """The findings of a JSON report, in report order."""
    raw = report.get("findings", [])
    assert isinstance(raw, list)
    return [
        Finding(
            rule=f["rule"],
            severity=f["severity"],
            path=f["path"],
            line=int(f.get("line") or 0),
            subject=f.get("subject") or "",
            message=f["message"],
        )
        for f in raw
    ]


def measure(
    project: Project,
    judgments: Sequence[Judgment],
    src: Path,
    mirrors: Path,
    sample_size: int,
    keep: Path | None,
    dump: Path | None,
) -> Outcome:
    """Export, check, sample and match one project."""
    with tempfile.TemporaryDirectory(prefix=f"kp-prec-{project.name}-") as tmp:
        tree = keep / project.name if keep else Path(tmp)
        if not (keep and tree.is_dir()):
            tree.mkdir(parents=True, exist_ok=True)
            export_tree(mirror_git_dir(project.repo, mirrors), project.commit, tree)
        report, wall = run_check(tree, src)
    if dump:
        dump.mkdir(parents=True, exist_ok=True)
        (dump / f"{project.name}.json").write_text(json.dumps(report, indent=1))
    findings = findings_of(report)
    sample = choose_sample(project.name, findings, sample_size)
    pairs = match([findings[i] for i in sorted(sample)], judgments)
    ordered = sorted(sample)
    verdicts = {ordered[k]: j for k, j in pairs.items()}
    metadata = report.get("metadata", {})
    skipped = report.get("skipped", [])
    return Outcome(
        project=project,
        findings=findings,
        sample=sample,
        verdicts=verdicts,
        wall_seconds=wall,
        metadata=metadata if isinstance(metadata, dict) else {},
        skipped=len(skipped) if isinstance(skipped, list) else 0,
    )


@dataclass
class Tally:
    """Counts for one row of a precision table."""

    findings: int = 0
    judged: int = 0
    true: int = 0
    false: int = 0
    debatable: int = 0
    weighted_true: float = 0.0
    weighted_false: float = 0.0

    def add(self, verdict: str | None, weight: float = 1.0) -> None:
        """Count one finding with its verdict (None: not judged) and sample weight."""
        self.findings += 1
        if verdict is None:
            return
        self.judged += 1
        setattr(self, verdict, getattr(self, verdict) + 1)
        if verdict == "true":
            self.weighted_true += weight
        elif verdict == "false":
            self.weighted_false += weight

    @property
    def precision(self) -> float | None:
        """true / (true + false), or None when nothing decisive was judged."""
        decisive = self.true + self.false
        return self.true / decisive if decisive else None

    @property
    def estimate(self) -> float | None:
        """Precision over all findings, each judged finding weighted by what it stands for."""
        decisive = self.weighted_true + self.weighted_false
        return self.weighted_true / decisive if decisive else None


def verdict_rows(
    outcomes: Iterable[Outcome],
) -> Iterator[tuple[Outcome, Finding, str | None, float]]:
    """Every finding with its verdict (None when unjudged or outside the sample) and weight."""
    for o in outcomes:
        for i, f in enumerate(o.findings):
            j = o.verdicts.get(i)
            yield o, f, (j.verdict if j else None), (o.weight(i) if j else 0.0)


def tallies(outcomes: Sequence[Outcome]) -> tuple[dict[str, Tally], dict[str, Tally], Tally]:
    """Per-rule, per-project and overall tallies."""
    by_rule: dict[str, Tally] = defaultdict(Tally)
    by_project: dict[str, Tally] = {o.project.name: Tally() for o in outcomes}
    total = Tally()
    for o, f, verdict, weight in verdict_rows(outcomes):
        for t in (by_rule[f.rule], by_project[o.project.name], total):
            t.add(verdict, weight)
    return dict(sorted(by_rule.items())), by_project, total


def _pct(t: Tally) -> str:
    p = t.precision
    return "—" if p is None else f"{100 * p:.0f} %"


def _est(t: Tally) -> str:
    p = t.estimate
    return "—" if p is None else f"{100 * p:.0f} %"


def table(title: str, rows: dict[str, Tally], total: Tally) -> list[str]:
    """A Markdown table of tallies, with a total row."""
    lines = [
        f"| {title} | findings | judged | true | false | debatable | precision | weighted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in [*rows.items(), ("**all**", total)]:
        lines.append(
            f"| {name} | {t.findings} | {t.judged} | {t.true} | {t.false} | "
            f"{t.debatable} | {_pct(t)} | {_est(t)} |"
        )
    return lines


def project_table(outcomes: Sequence[Outcome], by_project: dict[str, Tally]) -> list[str]:
    """Per-project table with set and commit."""
    lines = [
        "| project | set | commit | findings | judged | true | false | debatable | precision "
        "| weighted |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        t = by_project[o.project.name]
        lines.append(
            f"| [{o.project.repo}](https://github.com/{o.project.repo}) | {o.project.set} | "
            f"`{o.project.commit[:12]}` | {t.findings} | {t.judged} | {t.true} | "
            f"{t.false} | {t.debatable} | {_pct(t)} | {_est(t)} |"
        )
    return lines


def kind_table(outcomes: Sequence[Outcome]) -> list[str]:
    """False findings per false-positive kind (as recorded in the judgments), per set."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    rules: dict[str, set[str]] = defaultdict(set)
    for o in outcomes:
        for i, j in o.verdicts.items():
            if j.verdict == "false":
                kind = j.kind or "(no kind)"
                counts[kind][o.project.set] += 1
                rules[kind].add(o.findings[i].rule)
    sets = sorted({o.project.set for o in outcomes})
    lines = [
        "| kind | rules | " + " | ".join(sets) + " | all |",
        "|---|---|" + "---:|" * (len(sets) + 1),
    ]
    for kind, c in sorted(counts.items(), key=lambda kc: (-sum(kc[1].values()), kc[0])):
        cells = " | ".join(str(c[s]) for s in sets)
        lines.append(f"| {kind} | {', '.join(sorted(rules[kind]))} | {cells} | {sum(c.values())} |")
    return lines


def markdown(outcomes: Sequence[Outcome]) -> str:
    """The generated tables of docs/precision.md."""
    by_rule, by_project, total = tallies(outcomes)
    sets = sorted({o.project.set for o in outcomes})
    per_set = {s: tallies([o for o in outcomes if o.project.set == s])[2] for s in sets}
    lines = ["### Overall", ""]
    lines += table("set", per_set, total)
    lines += ["", "### Per rule", ""]
    lines += table("rule", by_rule, total)
    lines += ["", "### Per project", ""]
    lines += project_table(outcomes, by_project)
    lines += ["", "### False findings by kind", ""]
    lines += kind_table(outcomes)
    return "\n".join(lines) + "\n"


def unjudged(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per sampled finding without a judgment."""
    out = []
    for o in outcomes:
        for i in sorted(o.sample):
            if i not in o.verdicts:
                f = o.findings[i]
                out.append(
                    f"{o.project.name}\t{f.rule}\t{f.severity}\t{f.path}:{f.line}\t"
                    f"{f.subject}\t{f.message}"
                )
    return out


def stubs(outcomes: Sequence[Outcome]) -> dict[str, list[dict[str, object]]]:
    """Judgment entries to fill in (verdict and reason empty) for unjudged sampled findings."""
    out: dict[str, list[dict[str, object]]] = {}
    for o in outcomes:
        for i in sorted(o.sample):
            if i in o.verdicts:
                continue
            f = o.findings[i]
            out.setdefault(o.project.name, []).append(
                {
                    "rule": f.rule,
                    "path": f.path,
                    "line": f.line,
                    "subject": f.subject,
                    "message": f.message,
                    "verdict": "",
                    "reason": "",
                }
            )
    return out


BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"


def write_tables(path: Path, tables: str) -> None:
    """Write the tables to ``path``, between its begin/end markers when it has them."""
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, _, rest = old.partition(BEGIN)
        _, _, tail = rest.partition(END)
        path.write_text(f"{head}{BEGIN}\n{tables}{END}{tail}")
    else:
        path.write_text(tables)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the tables, optionally write the Markdown tables."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--projects", type=Path, default=DATA / "projects.json")
    ap.add_argument(
        "--judgments",
        type=Path,
        action="append",
        help="judgment files (default: bench/precision/judgments*.json)",
    )
    ap.add_argument("--set", default="all", help="a set named in the projects file, or all")
    ap.add_argument("--project", action="append", help="only these project names")
    ap.add_argument("--src", type=Path, default=HERE.parent / "src", help="killproof src dir")
    ap.add_argument("--mirrors", type=Path, default=MIRRORS)
    ap.add_argument("--sample", type=int, default=30, help="non-error findings judged per project")
    ap.add_argument("--keep", type=Path, help="export trees here and reuse them")
    ap.add_argument("--dump", type=Path, help="write each project's JSON report here")
    ap.add_argument(
        "--markdown",
        type=Path,
        help="write the Markdown tables here (between its tables:begin/end markers if present)",
    )
    ap.add_argument("--unjudged", action="store_true", help="list sampled unjudged findings")
    ap.add_argument("--stubs", type=Path, help="write entries to judge for unjudged findings here")
    args = ap.parse_args(argv)

    listed = load_projects(args.projects)
    known = sorted({p.set for p in listed})
    if args.set != "all" and args.set not in known:
        ap.error(f"--set {args.set!r}: not a set of {args.projects} ({', '.join(known)}, all)")
    projects = [
        p
        for p in listed
        if (args.set in ("all", p.set)) and (not args.project or p.name in args.project)
    ]
    judgments = load_judgments(args.judgments or sorted(DATA.glob("judgments*.json")))
    outcomes = []
    for p in projects:
        o = measure(
            p, judgments.get(p.name, []), args.src, args.mirrors, args.sample, args.keep, args.dump
        )
        outcomes.append(o)
        t = tallies([o])[2]
        print(
            f"{p.name:<28} {p.set:<7} {len(o.findings):>4} findings, {len(o.sample):>3} "
            f"sampled, {t.judged:>3} judged, {_pct(t):>6}, {o.wall_seconds:.1f} s",
            file=sys.stderr,
        )
    text = markdown(outcomes)
    print(text)
    left = unjudged(outcomes)
    by_rule = Counter(line.split("\t")[1] for line in left)
    print(f"{len(left)} sampled findings without a judgment: {dict(sorted(by_rule.items()))}")
    if args.unjudged:
        print("\n".join(left))
    if args.markdown:
        write_tables(args.markdown, text)
    if args.stubs:
        args.stubs.write_text(json.dumps(stubs(outcomes), indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
