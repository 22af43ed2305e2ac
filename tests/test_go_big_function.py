"""A function of 3,000 statements is checked in time linear in its size (issue 11: KP110
and KP112 walked the whole function once per ``go`` statement or per cancel func, and hit
the 30 s per-rule budget)."""

from __future__ import annotations

import json
from pathlib import Path

from budget import run_cli, tree

STATEMENTS = 3000
BUDGET_S = 10.0
"""Wall seconds for the whole CLI run: linear takes about two on an idle machine, the
quadratic walks took minutes (every rule stops at 30 s), one walk per `go` statement 10–30 s."""


def big_handler(n: int) -> tuple[str, set[tuple[str, int]]]:
    """A handler of ``n`` statements cycling through goroutines per request, contexts
    whose cancel is deferred, loops and branches; one cancel func in 50 is deferred only
    after a return. Returns the source and the (rule, line) findings it must give."""
    lines = [
        "package main",
        "",
        'import (\n\t"context"\n\t"net/http"\n\t"time"\n)',
        "",
        "func work(ctx context.Context, i int) {}",
        "",
        "func handler(w http.ResponseWriter, r *http.Request) {",
        "\tctx := r.Context()",
        "\tv0 := 0",
    ]
    want: set[tuple[str, int]] = set()

    def add(text: str, rule: str = "") -> None:
        line = sum(chunk.count("\n") + 1 for chunk in lines) + 1
        if rule:
            want.add((rule, line))
        lines.append(text)

    for i in range(1, n):
        kind = i % 6
        if i % 50 == 0:
            add(f"\tc{i}, cancel{i} := context.WithTimeout(ctx, time.Second)", "KP112")
            add(f"\t_ = c{i}\n\tif v{i - 1} > 9 {{\n\t\treturn\n\t}}")
            add(f"\tdefer cancel{i}()\n\tv{i} := v{i - 1}")
        elif kind == 0:
            add(f"\tgo work(ctx, v{i - 1})", "KP110")
            add(f"\tv{i} := v{i - 1}")
        elif kind == 1:
            add(f"\tc{i}, cancel{i} := context.WithTimeout(ctx, time.Second)")
            add(f"\t_ = c{i}\n\tdefer cancel{i}()\n\tv{i} := v{i - 1}")
        elif kind == 2:
            add(f"\tv{i} := v{i - 1} + 1")
        elif kind == 3:
            add(f"\tfor j := 0; j < v{i - 1}; j++ {{")
            add("\t\tgo work(ctx, j)", "KP110")
            add(f"\t}}\n\tv{i} := v{i - 1}")
        elif kind == 4:
            add("\tgo func() {", "KP110")
            add(f"\t\twork(ctx, v{i - 1})\n\t}}()\n\tv{i} := v{i - 1}")
        else:
            add(f"\tif v{i - 1} > 3 {{\n\t\tv{i - 1}++\n\t}}\n\tv{i} := v{i - 1}")
    lines.append(f'\t_ = v{n - 1}\n}}\n\nfunc main() {{\n\thttp.HandleFunc("/", handler)\n}}\n')
    return "\n".join(lines), want


def test_a_3000_statement_handler_is_checked_well_under_budget(tmp_path: Path) -> None:
    source, want = big_handler(STATEMENTS)
    assert source.count("\n") > STATEMENTS
    root = tree(tmp_path, {"go.mod": "module example.com/big\n\ngo 1.22\n", "main.go": source})
    out = run_cli(["check", "--format", "json", root], seconds=BUDGET_S)

    report = json.loads(out.stdout)
    assert report["skipped"] == []  # no rule ran out of time ("not checked: …")
    got = {
        (f["rule"], f["line"])
        for f in report["findings"]
        if f["rule"] in ("KP110", "KP112") and Path(f["path"]).name == "main.go"
    }
    assert got == want
    assert len(want) > 500
