"""Programs: each main package with the local packages it imports, and the rules that
judge a whole program (a SIGTERM handler or a pool limit may live in any of them)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from killproof.facts.go import PackageSummary, ProgramFacts
from killproof.model import Finding, Skipped
from killproof.rules import engine
from killproof.rules.engine import RuleBudget
from killproof.rules.suppress import decide


def build_programs(summaries: Sequence[PackageSummary]) -> list[ProgramFacts]:
    """One :class:`ProgramFacts` per main package, closed over the imports the check read
    (any module in the tree, not only the main's own)."""
    by_path: dict[str, PackageSummary] = {}
    for s in summaries:
        if s.import_path and s.name != "main":
            by_path.setdefault(s.import_path, s)
    out: list[ProgramFacts] = []
    for main in summaries:
        if main.name != "main":
            continue
        # Breadth first, imports in name order: the packages nearest the main come
        # first, the same way on every run (rules point at the first server found).
        seen: dict[str, PackageSummary] = {}
        todo = deque(sorted(main.imports))
        while todo:
            path = todo.popleft()
            if path in seen or path not in by_path:
                continue
            seen[path] = by_path[path]
            todo.extend(sorted(by_path[path].imports))
        out.append(ProgramFacts(main, (main, *seen.values())))
    return out


def run_program_rules(
    programs: Sequence[ProgramFacts], summaries: Sequence[PackageSummary]
) -> tuple[list[Finding], list[Skipped]]:
    """Program-level findings, with ignore directives applied, and a skipped entry for each
    rule that failed on a program (named by its main package's directory)."""
    from killproof.rules.go import PROGRAM_RULES

    silenced: dict[tuple[str, int], frozenset[str]] = {}
    for s in summaries:
        for path, line, ids in s.suppressed:
            silenced[(path, line)] = silenced.get((path, line), frozenset()) | ids
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    budget = RuleBudget()
    for program in programs:
        found, missed = engine.run(PROGRAM_RULES, program, budget, subject=program.main.dir)
        skipped += missed
        findings += decide(found, silenced)
    return findings, skipped
