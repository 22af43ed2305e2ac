"""Go code only tests use is left out like ``_test.go`` files: files that import a test
framework, and packages only other directories' tests import."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from killproof.check.go import check_go
from killproof.sources.golang.testsupport import file_import_paths, framework_imported

GOMOD = "module example.com/shop\n\ngo 1.22\n"
UNBOUNDED_CLIENT = """
import "net/http"

// NewClient is used by whoever imports this package.
func NewClient() *http.Client {
	return &http.Client{}
}
"""


def _tree(tmp: Path, files: dict[str, str]) -> list[Path]:
    (tmp / "go.mod").write_text(GOMOD)
    out = []
    for rel, text in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out.append(path)
    return out


def _kp114(result_findings: object) -> set[tuple[str, int]]:
    assert isinstance(result_findings, tuple)
    return {(f.location.path, f.location.line) for f in result_findings if f.rule == "KP114"}


def test_a_file_importing_testing_is_test_support_but_its_package_is_checked(
    tmp_path: Path,
) -> None:
    files = _tree(
        tmp_path,
        {
            "x/client.go": "package x\n" + UNBOUNDED_CLIENT,
            "x/testclient.go": (
                'package x\n\nimport (\n\t"net/http"\n\t"testing"\n)\n\n'
                "func NewTestClient(t testing.TB) *http.Client {\n"
                "\treturn &http.Client{}\n}\n"
            ),
        },
    )
    result = check_go(tmp_path, files, jobs=1)
    assert _kp114(result.findings) == {("x/client.go", 7)}
    assert any(
        s.what == "1 Go files of test support" and "testing" in s.reason for s in result.skipped
    )


def test_a_package_only_other_directories_tests_import_is_left_out(tmp_path: Path) -> None:
    files = _tree(
        tmp_path,
        {
            "integration/clients/clients.go": "package clients\n" + UNBOUNDED_CLIENT,
            "integration/flow_test.go": (
                'package integration\n\nimport (\n\t"testing"\n\n'
                '\t"example.com/shop/integration/clients"\n)\n\n'
                "func TestFlow(t *testing.T) { _ = clients.NewClient() }\n"
            ),
            # imported by its own tests only: an ordinary library, still checked
            "lib/api/api.go": "package api\n" + UNBOUNDED_CLIENT,
            "lib/api/api_test.go": (
                'package api_test\n\nimport (\n\t"testing"\n\n\t"example.com/shop/lib/api"\n)\n\n'
                "func TestNew(t *testing.T) { _ = api.NewClient() }\n"
            ),
            # imported by a test and by production code: checked
            "pkg/upstream/up.go": "package upstream\n" + UNBOUNDED_CLIENT,
            "cmd/shop/main.go": (
                'package main\n\nimport "example.com/shop/pkg/upstream"\n\n'
                "func main() { _ = upstream.NewClient() }\n"
            ),
            "e2e/up_test.go": (
                'package e2e\n\nimport (\n\t"testing"\n\n\t"example.com/shop/pkg/upstream"\n)\n\n'
                "func TestUp(t *testing.T) { _ = upstream.NewClient() }\n"
            ),
        },
    )
    result = check_go(tmp_path, files, jobs=1)
    assert _kp114(result.findings) == {("lib/api/api.go", 7), ("pkg/upstream/up.go", 7)}
    assert any(s.what == "1 Go packages only tests import" for s in result.skipped)


def test_import_paths_are_read_from_single_and_grouped_declarations() -> None:
    source = (
        b'package x\n\nimport "fmt"\nimport t "testing"\n\nimport (\n\t"os"\n'
        b'\tgm "github.com/onsi/gomega"\n\t_ "embed"\n)\n\n'
        b'func f() { fmt.Println("import \\"not/this\\"") }\n'
    )
    paths = file_import_paths(source)
    assert paths == {"fmt", "testing", "os", "github.com/onsi/gomega", "embed"}
    assert framework_imported(paths) in ("testing", "github.com/onsi/gomega")


@given(st.sampled_from(["net/http", "testingx", "github.com/stretchr/testifyx", "mytesting"]))
def test_lookalike_paths_are_not_test_frameworks(path: str) -> None:
    assert framework_imported([path]) is None


@given(st.sampled_from(["testing", "testing/fstest", "github.com/stretchr/testify/require"]))
def test_frameworks_and_their_subpackages_are(path: str) -> None:
    assert framework_imported([path]) is not None


def test_a_library_module_kept_in_the_tree_is_judged_where_the_programs_use_it(
    tmp_path: Path,
) -> None:
    files = _tree(
        tmp_path,
        {
            "cmd/shop/main.go": (
                'package main\n\nimport "example.com/x/fetch"\n\n'
                "func main() { _ = fetch.NewClient() }\n"
            ),
            "x/go.mod": "module example.com/x\n\ngo 1.22\n",
            "x/fetch/fetch.go": "package fetch\n" + UNBOUNDED_CLIENT,
            "x/decode/decode.go": "package decode\n" + UNBOUNDED_CLIENT,
            # a tool of the library module is a program of its own: still judged
            "x/cmd/gen/main.go": (
                'package main\n\nimport "net/http"\n\nvar c = &http.Client{}\n\nfunc main() {}\n'
            ),
            # the programs' own module: a package nothing imports is still judged
            "pkg/spare/spare.go": "package spare\n" + UNBOUNDED_CLIENT,
        },
    )
    result = check_go(tmp_path, files, jobs=1)
    assert _kp114(result.findings) == {
        ("x/fetch/fetch.go", 7),
        ("pkg/spare/spare.go", 7),
        ("x/cmd/gen/main.go", 5),
    }
    assert any(s.what == "1 Go packages of library modules nothing imports" for s in result.skipped)


def test_a_library_repository_is_judged_whole(tmp_path: Path) -> None:
    files = _tree(
        tmp_path,
        {
            "x/go.mod": "module example.com/x\n\ngo 1.22\n",
            "x/decode/decode.go": "package decode\n" + UNBOUNDED_CLIENT,
        },
    )
    result = check_go(tmp_path, files, jobs=1)
    assert _kp114(result.findings) == {("x/decode/decode.go", 7)}
