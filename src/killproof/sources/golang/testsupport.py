"""Go code that only tests use, though it is not in a ``_test.go`` file; and library
code no binary built from the tree contains.

``go build`` leaves ``_test.go`` files out of the binary, and ``check`` skips them too.
Two more kinds of code never run in production, and are left out the same way:

- a file that imports a test framework (``testing``, ``net/http/httptest``, testify,
  ginkgo, gomega, gomock): test helpers such as ``NewTestClient(t testing.TB)`` kept
  beside production code;
- a package that only ``_test.go`` files of other directories import (an integration
  suite's client helpers), when no package the check read imports it. A package whose
  only importers are its own directory's tests is an ordinary library and stays.

A library module kept beside the programs (``replace github.com/acme/x => ./x``) is
checked where the programs use it; its packages that nothing imports are left out too
(:func:`unused_library_packages`).

Test-file imports are read with a regular expression over the import declarations, not
parsed: test files are never parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

TEST_FRAMEWORKS = (
    "testing",
    "net/http/httptest",
    "github.com/stretchr/testify",
    "github.com/onsi/ginkgo",
    "github.com/onsi/gomega",
    "github.com/golang/mock/gomock",
    "go.uber.org/mock/gomock",
)
"""Import paths (and their subpackages) only test code imports."""

LibraryRow = tuple[str, str, str, str, frozenset[str]]
"""(directory, import path, module path, package name, imports) of one package."""

_IMPORT_BLOCK = re.compile(rb"^import\s*\((?P<body>[^)]*)\)", re.MULTILINE)
_IMPORT_LINE = re.compile(rb'^import\s+(?:[A-Za-z_.][A-Za-z0-9_]*\s+)?"(?P<path>[^"]+)"', re.M)
_QUOTED = re.compile(rb'"(?P<path>[^"\n]+)"')
_DECLS = re.compile(rb"^(?:func|type|var|const)\b", re.MULTILINE)


def framework_imported(import_paths: Iterable[str]) -> str | None:
    """The first test framework among ``import_paths``, None when there is none."""
    for path in import_paths:
        for framework in TEST_FRAMEWORKS:
            if path == framework or path.startswith(framework + "/"):
                return framework
    return None


def file_import_paths(source: bytes) -> set[str]:
    """The import paths of a Go file, read from its import declarations (which come
    before any other declaration)."""
    end = _DECLS.search(source)
    head = source[: end.start()] if end else source
    out = {m.group("path").decode("utf-8", "replace") for m in _IMPORT_LINE.finditer(head)}
    for block in _IMPORT_BLOCK.finditer(head):
        body = block.group("body")
        out.update(m.group("path").decode("utf-8", "replace") for m in _QUOTED.finditer(body))
    return out


def helper_packages(
    packages: Mapping[str, str],
    imported_by_code: Iterable[str],
    test_imports: Mapping[str, set[str]],
) -> set[str]:
    """Directories of the packages that only other directories' tests import.

    ``packages`` maps import path → directory for the non-main packages read;
    ``imported_by_code`` holds every import path a read (non-test) package imports;
    ``test_imports`` maps a directory → the import paths of its ``_test.go`` files.
    """
    used = set(imported_by_code)
    out: set[str] = set()
    for path, directory in packages.items():
        if path in used:
            continue
        if any(d != directory and path in paths for d, paths in test_imports.items()):
            out.add(directory)
    return out


def unused_library_packages(packages: Iterable[LibraryRow]) -> set[str]:
    """Directories of packages of a library module kept in the tree (a ``replace`` to a
    local copy, a go.work member) that no package imports: they are in no binary built
    from this tree.

    ``packages`` holds (directory, import path, module path, package name, imports) of
    every package read. A module is a library here when packages of another module
    import it; a repository of one module is judged whole.
    """
    rows = list(packages)
    module_of = {path: module for _, path, module, _, _ in rows}
    libraries = {
        module_of[i]
        for _, _, module, _, imports in rows
        for i in imports
        if i in module_of and module_of[i] != module
    }
    used = {i for *_, imports in rows for i in imports}
    return {
        directory
        for directory, path, module, name, _ in rows
        if module in libraries and name != "main" and path not in used
    }
