"""KP117 gc-disabled-without-limit: GC turned off with no memory limit to fall back on."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.go import ProgramFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs


def _check(program: ProgramFacts) -> Iterator[Finding]:
    if any(p.sets_memory_limit for p in program.packages):
        return
    for site in program.sites("gc_off_sites"):
        yield RULE.finding(
            "the garbage collector is disabled and no memory limit is set: the heap grows "
            "until the process is OOM-killed",
            site.location,
            [site.evidence],
        )


RULE: Rule[ProgramFacts] = Rule(
    id="KP117",
    name="gc-disabled-without-limit",
    severity=Severity.ERROR,
    summary="debug.SetGCPercent(-1) without debug.SetMemoryLimit.",
    docs=RuleDocs(
        what=(
            "`debug.SetGCPercent(-1)` in a program that never calls `debug.SetMemoryLimit` "
            "and does not import automemlimit."
        ),
        why=(
            "With GOGC off, the only thing that triggers a collection is the memory limit. "
            "Without one, the heap only grows: the process is OOM-killed as soon as its "
            "garbage reaches the container limit."
        ),
        example="```go\ndebug.SetGCPercent(-1)\n```",
        fix=(
            "Set a limit below the container's: `debug.SetMemoryLimit(limit * 9 / 10)` "
            "(or GOMEMLIMIT), or keep the GC on."
        ),
        references=("https://go.dev/doc/gc-guide#Memory_limit",),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport "runtime/debug"\n\nfunc main() {\n'
            "\tdebug.SetGCPercent(-1)\n\trun()\n}\n\nfunc run() {}\n",
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport "runtime/debug"\n\nfunc main() {\n'
            "\tdebug.SetMemoryLimit(900 << 20)\n\tdebug.SetGCPercent(-1)\n\trun()\n}\n\n"
            "func run() {}\n",
            "main.go",
        ),
    ),
    family="go",
)
