"""Import declarations: which local name refers to which import path, aliases resolved."""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.syntax import line_col, string_value, text

_MAJOR = re.compile(r"^v(?:[2-9]|[1-9][0-9]+)$")
_GOPKG = re.compile(r"^(?P<name>[^.]+)\.v[0-9]+$")


def default_name(path: str) -> str:
    """The package name Go code uses for ``path`` when it is imported without an alias.

    Module major-version suffixes are dropped (``github.com/go-chi/chi/v5`` → ``chi``), as
    are gopkg.in versions (``gopkg.in/yaml.v3`` → ``yaml``) and a ``go-`` prefix
    (``github.com/go-sql-driver/mysql`` keeps ``mysql``).
    """
    parts = [p for p in path.split("/") if p]
    if not parts:
        return ""
    last = parts[-1]
    if _MAJOR.match(last) and len(parts) > 1:
        last = parts[-2]
    gopkg = _GOPKG.match(last)
    if gopkg:
        last = gopkg.group("name")
    if last.startswith("go-"):
        last = last[3:]
    return last.replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class Import:
    """One import spec: the local name (``_`` blank, ``.`` dot) and its path and line."""

    name: str
    path: str
    line: int
    explicit: bool


def file_imports(root: ts.Node) -> list[Import]:
    """The imports of a parsed file, in source order."""
    out: list[Import] = []
    for decl in root.named_children:
        if decl.type in ("package_clause", "comment"):
            continue
        if decl.type != "import_declaration":
            break
        for spec in _specs(decl):
            path = string_value(spec.child_by_field_name("path"))
            if path is None:
                continue
            name_node = spec.child_by_field_name("name")
            name = text(name_node) if name_node is not None else default_name(path)
            out.append(Import(name, path, line_col(spec)[0], name_node is not None))
    return out


def _specs(decl: ts.Node) -> list[ts.Node]:
    specs: list[ts.Node] = []
    for child in decl.named_children:
        if child.type == "import_spec":
            specs.append(child)
        elif child.type == "import_spec_list":
            specs.extend(c for c in child.named_children if c.type == "import_spec")
    return specs
