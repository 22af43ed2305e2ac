"""Current Go syntax parses with the pinned tree-sitter-go (0.25.0, the newest on PyPI),
so files using it are checked, not skipped (issue 11, grammar gaps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.check.go import check_go
from killproof.sources.golang.parse import parse, syntax_problem

CURRENT_GO = {
    "range over an int (1.22)": "func f() {\n\tfor i := range 10 {\n\t\t_ = i\n\t}\n}\n",
    "range over a func (1.23)": (
        'import "iter"\n\nfunc all(xs []int) iter.Seq2[int, int] {\n'
        "\treturn func(yield func(int, int) bool) {\n\t\tfor i, x := range xs {\n"
        "\t\t\tif !yield(i, x) {\n\t\t\t\treturn\n\t\t\t}\n\t\t}\n\t}\n}\n\n"
        "func f() {\n\tfor i, x := range all(nil) {\n\t\t_, _ = i, x\n\t}\n}\n"
    ),
    "generic type alias (1.24)": (
        "type Set[T comparable] = map[T]struct{}\n\n"
        "type Pair[K comparable, V any] = struct {\n\tK K\n\tV V\n}\n\n"
        "var s Set[string]\n"
    ),
    "new of an expression (1.26)": (
        "type Config struct{ Timeout *int }\n\nvar c = Config{Timeout: new(30)}\n"
    ),
}


@pytest.mark.parametrize("name", sorted(CURRENT_GO))
def test_current_go_syntax_parses(name: str) -> None:
    assert syntax_problem(parse(f"package p\n\n{CURRENT_GO[name]}".encode())) is None


def test_current_go_files_are_checked_not_skipped(tmp_path: Path) -> None:
    files = []
    for i, name in enumerate(sorted(CURRENT_GO)):
        path = tmp_path / f"f{i}.go"
        path.write_text(f"package p\n\n{CURRENT_GO[name]}")
        files.append(path)
    result = check_go(tmp_path, files, jobs=1)
    assert result.files_checked == len(CURRENT_GO)
    assert result.syntax_errors == 0
    assert result.skipped == ()
