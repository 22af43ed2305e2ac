"""The Go side of ``killproof check``: parse every package (in parallel processes for
large trees), run the KP1xx package rules where the trees live, then the program rules
on the summaries, and apply ``//killproof:ignore`` directives."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import tree_sitter as ts

from killproof.check.gofmt import GoSyntaxError, gofmt_syntax_error
from killproof.check.programs import build_programs, run_program_rules
from killproof.check.results import GoResult
from killproof.errors import ReadRefused
from killproof.facts.go import PackageFacts, PackageSummary
from killproof.facts.go_program import GoProgram
from killproof.facts.go_summary import summarize
from killproof.model import Finding, Location, Severity, Skipped
from killproof.rules import engine
from killproof.rules.engine import RULE_BUDGET_S, RuleBudget
from killproof.rules.suppress import decide
from killproof.sources.golang.gomod import GoMod, parse_gomod
from killproof.sources.golang.imports import Import, file_imports
from killproof.sources.golang.memo import forget
from killproof.sources.golang.package import GoFile, GoPackage, build_file
from killproof.sources.golang.parse import SyntaxProblem, is_generated, parse, syntax_problem
from killproof.sources.golang.query import is_serving_import, needs_query
from killproof.sources.golang.reach import REACHABILITY_RULES, USED, reach_of, selector_names
from killproof.sources.golang.suppress import file_suppressions
from killproof.sources.golang.testsupport import (
    file_import_paths,
    framework_imported,
    helper_packages,
    unused_library_packages,
)
from killproof.suppression import Suppression, silenced_lines

# Below this many files, process start-up costs more than it saves.
PARALLEL_MIN_FILES = 64
SYNTAX_ERROR = "unreadable Go"
GO_FILE_MAX_BYTES = 2 << 20
"""Go files larger than this (bytes) are skipped with a reason. In the Go distribution
every file over 0.6 MiB is generated (tables, the SSA rewrite rules); the largest
hand-written one is 0.5 MiB. Parsing is linear, but a few rules are not free per node."""

GO_MAX_NESTING = 250
"""Files whose brackets nest deeper than this are skipped with a reason. Hand-written Go
stays under a few dozen levels; each step up a tree-sitter tree costs time in its depth,
so a file of 10,000 nested blocks makes every "which function holds this" quadratic."""
_BRACKETS = bytes(range(256)).translate(None, b"{}()[]")
_AS_BRACES = bytes.maketrans(b"()[]", b"{}{}")

_RUN_BUDGETS: dict[str, RuleBudget] = {}
"""This process's rule budgets, by run: the chunks one worker gets share its run's budget."""


@dataclass(frozen=True)
class PackageTask:
    """One directory's Go files for a worker; paths relative to ``root``."""

    root: str
    dir: str
    files: tuple[str, ...]
    module: GoMod
    module_dir: str
    size: int
    run: str = ""
    """Which run the task belongs to (its rules share one time budget per process)."""
    rule_budget_s: float = RULE_BUDGET_S
    include_tests: bool = False
    """Check files that import a test framework too (``--include-tests``)."""


@dataclass(frozen=True)
class PackageOutcome:
    """A worker's answer for one directory."""

    findings: tuple[Finding, ...]
    skipped: tuple[Skipped, ...]
    summaries: tuple[PackageSummary, ...]
    files_checked: int
    syntax_errors: int
    test_support: tuple[str, ...] = ()
    """Files left out because they import a test framework."""
    pending: tuple[tuple[Finding, str], ...] = ()
    """Findings in a function its own package does not use, with its name when exported
    (kept when another package of the tree names it; "" when unexported): dropped when
    the tree builds a program (:mod:`~killproof.sources.golang.reach`)."""
    selectors: frozenset[str] = frozenset()
    """Exported names written after a dot in this directory's files (test support aside)."""
    dot_import: bool = False
    """Some file here imports a package with ``.``: its names are used without a dot."""


def check_go(
    root: Path, go_files: Sequence[Path], jobs: int, include_tests: bool = False
) -> GoResult:
    """Check ``go_files`` (absolute, or relative to the current directory) under ``root``.

    ``jobs`` is the number of worker processes (0: one per CPU). Test files
    (``_test.go``) are not checked: they never run in the production binary. Test
    support (files importing a test framework, packages only tests import) and programs
    only CI runs with ``go run`` are left out too, unless ``include_tests``.
    """
    root = root.resolve()
    tests = [p for p in go_files if p.name.endswith("_test.go")]
    run = f"{os.getpid()}-{time.monotonic_ns()}"
    tasks = [
        dataclasses.replace(t, run=run, include_tests=include_tests)
        for t in _tasks(root, [p for p in go_files if not p.name.endswith("_test.go")])
    ]
    outcomes = _run(tasks, jobs)
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    summaries: list[PackageSummary] = []
    checked = errors = 0
    support = 0
    selectors: set[str] = set()
    pending: list[tuple[Finding, str]] = []
    for o in outcomes:
        selectors |= o.selectors
        pending.extend(o.pending)
        findings.extend(o.findings)
        skipped.extend(o.skipped)
        summaries.extend(o.summaries)
        checked += o.files_checked
        errors += o.syntax_errors
        support += len(o.test_support)
    skipped.sort(key=lambda s: (s.what, s.reason))  # same order however the work was split
    has_program = any(s.name == "main" for s in summaries)
    # A dot import uses another package's exported names bare: no `.Name` to look for.
    named = selectors if not any(o.dot_import for o in outcomes) else None

    def never_named(name: str) -> bool:
        return has_program and (name == "" or (named is not None and name not in named))

    uncalled = [x for x, name in pending if never_named(name)]
    findings.extend(x for x, name in pending if not never_named(name))
    if uncalled:
        skipped.append(
            Skipped(
                f"{len(uncalled)} findings in functions nothing calls",
                "no code in the tree (tests aside) calls or names the function they are in",
            )
        )
    if tests:
        skipped.append(
            Skipped(f"{len(tests)} _test.go files", "test code does not run in production")
        )
    if support:
        skipped.append(
            Skipped(
                f"{support} Go files of test support",
                "they import a test framework (testing, testify, ginkgo…): test helpers",
            )
        )
    unused = unused_library_packages(
        (s.dir, s.import_path, s.module_path, s.name, s.imports) for s in summaries
    )
    if unused:
        findings = [f for f in findings if _dir_of(f.location.path) not in unused]
        summaries = [s for s in summaries if s.dir not in unused]
        skipped.append(
            Skipped(
                f"{len(unused)} Go packages of library modules nothing imports",
                "no program built from this tree contains them",
            )
        )
    helpers = set() if include_tests else _test_only(root, summaries, tests)
    if helpers:
        findings = [f for f in findings if _dir_of(f.location.path) not in helpers]
        summaries = [s for s in summaries if s.dir not in helpers]
        skipped.append(
            Skipped(
                f"{len(helpers)} Go packages only tests import",
                "only _test.go files of other directories import them: test helpers",
            )
        )
    programs = build_programs(summaries)
    program_findings, program_skips = run_program_rules(programs, summaries)
    findings += program_findings
    skipped += program_skips
    return GoResult(
        findings=tuple(sorted(set(findings), key=Finding.sort_key)),
        skipped=tuple(skipped),
        programs=tuple(
            sorted((_go_program(p.main, p.packages) for p in programs), key=lambda g: g.dir)
        ),
        files_checked=checked,
        syntax_errors=errors,
    )


def _go_program(main: PackageSummary, packages: Sequence[PackageSummary]) -> GoProgram:
    serve = [s for p in packages for s in p.serve_sites]
    timeouts = [p.shutdown_timeout_s for p in packages if p.shutdown_timeout_s is not None]
    binary = Path(main.dir).name if main.dir != "." else _module_binary(main.module_path)
    return GoProgram(
        dir=main.dir,
        binary_name=binary or "main",
        location=main.location,
        module_path=main.module_path,
        go_version=main.go_version,
        serves_http=bool(serve),
        handled_signals=frozenset(s for p in packages for s in p.signals)
        | (frozenset({"SIGTERM"}) if any(p.may_handle_sigterm for p in packages) else frozenset()),
        handler_paths=frozenset(h for p in packages for h in p.handler_paths),
        listen_ports=frozenset(x for p in packages for x in p.listen_ports),
        listen_port_envs=frozenset(x for p in packages for x in p.listen_port_envs),
        shutdown_timeout_s=max(timeouts) if timeouts else None,
        extra_drain_s=max((p.extra_drain_s for p in packages), default=0.0),
        sets_memory_limit=any(p.sets_memory_limit for p in packages),
        sets_gomaxprocs=any(p.sets_gomaxprocs for p in packages),
        imports=frozenset(i for p in packages for i in p.imports),
    )


def _test_only(root: Path, summaries: Sequence[PackageSummary], tests: Sequence[Path]) -> set[str]:
    """Directories of packages that only other directories' ``_test.go`` files import."""
    if not tests:
        return set()
    test_imports: dict[str, set[str]] = {}
    for path in tests:
        try:
            real = path.resolve()
            source = _read_head(real, root)
        except (OSError, RuntimeError):
            continue
        d = _rel(real.parent, root)
        test_imports.setdefault(d, set()).update(file_import_paths(source))
    packages = {s.import_path: s.dir for s in summaries if s.name != "main" and s.import_path}
    used = {i for s in summaries for i in s.imports}
    return helper_packages(packages, used, test_imports)


TEST_HEAD_BYTES = 64 << 10
"""How much of a ``_test.go`` file is read for its imports (they come first)."""


def _read_head(path: Path, root: Path) -> bytes:
    """The first TEST_HEAD_BYTES of a resolved file under ``root`` (not through a link
    out)."""
    real = path
    if not real.is_relative_to(root):
        raise OSError("outside the checked tree (through a link): not read")
    fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError("not a regular file: not read")
        return f.read(TEST_HEAD_BYTES)


def _dir_of(path: str) -> str:
    """The directory of a root-relative POSIX path, ``.`` for the root."""
    head, _, _ = path.rpartition("/")
    return head or "."


def _module_binary(module_path: str) -> str:
    """What ``go build`` names the root package's binary: the module path's last element,
    or the one before a ``/vN`` major-version suffix."""
    parts = [p for p in module_path.split("/") if p]
    last = parts[-1] if parts else ""
    if len(parts) > 1 and last[:1] == "v" and last[1:].isdigit() and int(last[1:]) >= 2:
        return parts[-2]
    return parts[-1] if parts else ""


def _tasks(root: Path, files: Sequence[Path]) -> list[PackageTask]:
    by_dir: dict[Path, list[Path]] = {}
    for given in files:
        p = given if given.is_absolute() else given.resolve()
        by_dir.setdefault(p.parent, []).append(p)
    mods: dict[Path, tuple[GoMod, Path]] = {}
    tasks: list[PackageTask] = []
    for d in sorted(by_dir):
        mod, mod_dir = _module_of(d, root, mods)
        paths = sorted(by_dir[d])
        size = 0
        for p in paths:
            with contextlib.suppress(OSError):
                size += p.stat().st_size
        tasks.append(
            PackageTask(
                str(root),
                _rel(d, root),
                tuple(_rel(p, root) for p in paths),
                mod,
                _rel(mod_dir, root),
                size,
            )
        )
    return tasks


def _rel(p: Path, root: Path) -> str:
    try:
        rel = p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()
    return rel or "."


def _module_of(d: Path, root: Path, cache: dict[Path, tuple[GoMod, Path]]) -> tuple[GoMod, Path]:
    """The nearest go.mod at or above ``d`` (above ``root`` too: root may be in a module)."""
    chain: list[Path] = []
    cur = d
    found: tuple[GoMod, Path] = (GoMod(), root)
    while True:
        if cur in cache:
            found = cache[cur]
            break
        chain.append(cur)
        gomod = cur / "go.mod"
        if gomod.is_file():
            try:
                with gomod.open("rb") as f:  # a go.mod is small; a huge one is not one
                    head = f.read(GO_FILE_MAX_BYTES).decode("utf-8", "replace")
                found = (parse_gomod(head), cur)
            except OSError:
                found = (GoMod(), cur)
            break
        if cur.parent == cur:
            break
        cur = cur.parent
    for c in chain:
        cache[c] = found
    return found


def _run(tasks: list[PackageTask], jobs: int) -> list[PackageOutcome]:
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    n_files = sum(len(t.files) for t in tasks)
    if workers <= 1 or n_files < PARALLEL_MIN_FILES or len(tasks) < 2:
        return check_packages(tasks)
    chunks = _chunks(tasks, workers * 8)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        out: list[PackageOutcome] = []
        for part in pool.map(check_packages, chunks):
            out.extend(part)
        return out


def _chunks(tasks: list[PackageTask], n: int) -> list[list[PackageTask]]:
    """Split into ``n`` lists of similar byte size, biggest packages first (so the last
    chunk to finish is a small one)."""
    buckets: list[list[PackageTask]] = [[] for _ in range(n)]
    sizes = [0] * n
    for t in sorted(tasks, key=lambda t: -t.size):
        i = sizes.index(min(sizes))
        buckets[i].append(t)
        sizes[i] += t.size
    ordered = sorted((b for b in buckets if b), key=lambda b: -sum(t.size for t in b))
    return ordered


def _unparsed(rel: str, source: bytes, problem: SyntaxProblem) -> Skipped:
    """A file tree-sitter-go cannot read, as a KP001 failure: an error when gofmt agrees
    the Go is broken (at gofmt's line), a warning when gofmt reads it (Go newer than the
    parser: it may build) or when there is no gofmt to ask."""
    verdict = gofmt_syntax_error(source)
    if isinstance(verdict, GoSyntaxError):
        reason = f"{SYNTAX_ERROR}: syntax error at line {verdict.line}: {verdict.message}"
        return Skipped(rel, reason, rel, verdict.line, Severity.ERROR)
    reason = f"{SYNTAX_ERROR}: {problem.reason()} ({verdict.value}; rules did not run on it)"
    return Skipped(rel, reason, rel, problem.line, Severity.WARNING)


def check_packages(tasks: Sequence[PackageTask]) -> list[PackageOutcome]:
    """Parse and check each directory (runs in a worker process)."""
    return [_check_dir(t) for t in tasks]


def _check_dir(task: PackageTask) -> PackageOutcome:
    from killproof.rules.go import PACKAGE_RULES, SUPPRESSION_RULES

    root = Path(task.root)
    budget = _RUN_BUDGETS.setdefault(task.run, RuleBudget(task.rule_budget_s))
    skipped: list[Skipped] = []
    by_pkg: dict[str, list[GoFile]] = {}
    errors = 0
    supp: dict[str, list[Suppression]] = {}
    parsed: list[tuple[str, bytes, ts.Tree, tuple[Import, ...]]] = []
    test_support: list[str] = []
    generated: list[bytes] = []
    for rel in task.files:
        try:
            source = _read_go(root / rel, root)
        except OSError as exc:
            reason = f"cannot read: {exc.strerror or exc}"
            failure = None if isinstance(exc, ReadRefused) else Severity.ERROR
            skipped.append(Skipped(rel, reason, rel, 0, failure))
            continue
        if len(source) > GO_FILE_MAX_BYTES and not is_generated(source):
            skipped.append(Skipped(rel, f"larger than {GO_FILE_MAX_BYTES >> 20} MiB: not checked"))
            continue
        if is_generated(source):
            skipped.append(Skipped(rel, "generated file (// Code generated … DO NOT EDIT.)"))
            generated.append(source)
            continue
        if _nested_deeper(source, GO_MAX_NESTING):
            skipped.append(
                Skipped(rel, f"brackets nested deeper than {GO_MAX_NESTING}: not checked")
            )
            continue
        tree = parse(source)
        problem = syntax_problem(tree)
        if problem is not None:
            errors += 1
            skipped.append(_unparsed(rel, source, problem))
            continue
        imports = tuple(file_imports(tree.root_node))
        if not task.include_tests and framework_imported(i.path for i in imports) is not None:
            test_support.append(rel)
            continue
        parsed.append((rel, source, tree, imports))
    # One file importing net/http (or os/signal, a framework) makes the whole directory
    # worth querying: its server or handlers may be used from the other files.
    serving = any(is_serving_import(i.path) for *_, imps in parsed for i in imps)
    for rel, source, tree, imps in parsed:
        wanted = needs_query(source, (i.path for i in imps), serving)
        gofile = build_file(rel, source, tree, imps, run_query=wanted)
        supp[rel] = file_suppressions(source, tree.root_node, rel)
        by_pkg.setdefault(gofile.package_name, []).append(gofile)
    findings: list[Finding] = []
    pending: list[tuple[Finding, str]] = []
    summaries: list[PackageSummary] = []
    checked = 0
    import_base = task.module.module_path
    if task.dir != task.module_dir:
        sub = task.dir if task.module_dir == "." else task.dir[len(task.module_dir) + 1 :]
        import_base = f"{import_base}/{sub}" if import_base else sub
    for name, files in sorted(by_pkg.items()):
        checked += len(files)
        pkg = GoPackage(
            dir=task.dir,
            name=name,
            files=files,
            module_path=task.module.module_path,
            go_version=task.module.go_version,
            import_path=import_base,
            root=task.root,
        )
        facts = PackageFacts(pkg, {f.path: supp.get(f.path, []) for f in files})
        raw, missed = engine.run(PACKAGE_RULES, facts, budget, subject=task.dir)
        directives = [s for f in files for s in facts.suppressions.get(f.path, [])]
        unexplained, unrun = engine.run(SUPPRESSION_RULES, directives, budget, subject=task.dir)
        skipped += missed + unrun
        for x in decide([*raw, *unexplained], silenced_lines(directives)):
            reach = (
                reach_of(pkg, x.location.path, x.location.line, generated)
                if x.rule in REACHABILITY_RULES
                else USED
            )
            if reach.state == "used":
                findings.append(x)
            else:  # decided once the tree is read: only where it builds a program
                pending.append((x, reach.name))
        mains = [f for f, _ in pkg.functions.get("main", [])]
        home = mains[0] if mains else files[0]
        summaries.append(summarize(facts, Location(home.path, 1, 1)))
        forget()  # the memos hold this package's trees
    selectors = selector_names([*(src for _, src, _, _ in parsed), *generated])
    dot_import = any(i.name == "." for *_, imps in parsed for i in imps)
    return PackageOutcome(
        tuple(findings),
        tuple(skipped),
        tuple(summaries),
        checked,
        errors,
        tuple(test_support),
        tuple(pending),
        selectors,
        dot_import,
    )


def _nested_deeper(source: bytes, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (brackets in strings and comments
    count too: they only make the estimate larger). Each pass removes the innermost
    pairs, in C: at most ``limit`` passes over the brackets alone."""
    brackets = source.translate(_AS_BRACES, _BRACKETS)
    for _ in range(limit):
        shorter = brackets.replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return False
        brackets = shorter
    return b"{}" in brackets


def _read_go(path: Path, root: Path) -> bytes:
    """The file's bytes, or its first GO_FILE_MAX_BYTES + 1 when it is longer (enough to
    see the generated-code marker and that it is too large). Raises OSError for a link
    that leads outside the checked tree (``root``, resolved) or to something that is not
    a regular file."""
    try:
        real = path.resolve()
    except RuntimeError as exc:  # a symlink loop (Python 3.11 raises this, not OSError)
        raise ReadRefused(f"{exc}: not read") from exc
    if not real.is_relative_to(root):
        raise ReadRefused("outside the checked tree (through a link): not read")
    fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReadRefused("not a regular file: not read")
        return f.read(GO_FILE_MAX_BYTES + 1)
