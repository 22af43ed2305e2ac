"""Per-package facts: the parsed files of one Go package and what the rules ask of them.

A :class:`GoPackage` lives only inside the process that parsed it (tree-sitter trees do not
cross processes). Everything is computed once: imports with their aliases, the captured
nodes of interest, top-level functions and methods by name, package-level variables, and
(on demand) which functions run on a request path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import tree_sitter as ts

from killproof.model import Evidence, Location
from killproof.sources.golang import query
from killproof.sources.golang.gomod import version_tuple
from killproof.sources.golang.imports import Import, file_imports
from killproof.sources.golang.syntax import call_parts, first_named, line_col, text, unparen


@dataclass(frozen=True)
class GoFile:
    """One parsed file: ``path`` is relative to the checked root (POSIX separators)."""

    path: str
    source: bytes
    tree: ts.Tree
    imports: tuple[Import, ...]
    captures: dict[str, list[ts.Node]]

    @cached_property
    def names(self) -> dict[str, str]:
        """Local import name → import path (blank and dot imports excluded)."""
        return {i.name: i.path for i in self.imports if i.name not in ("_", ".")}

    @property
    def package_name(self) -> str:
        """The name in the package clause."""
        for child in self.tree.root_node.named_children:
            if child.type == "package_clause":
                return text(first_named(child))
        return ""

    @cached_property
    def _lines(self) -> list[bytes]:
        """The source split into lines once (splitting per finding is quadratic)."""
        return self.source.split(b"\n")

    def line_text(self, line: int) -> str:
        """The stripped source text of 1-based ``line``."""
        lines = self._lines
        if 0 < line <= len(lines):
            return lines[line - 1].decode("utf-8", "replace").strip()
        return ""

    def location(self, node: ts.Node) -> Location:
        """``node``'s start as a finding location."""
        line, col = line_col(node)
        return Location(self.path, line, col)

    def evidence(self, node: ts.Node) -> Evidence:
        """The first source line of ``node`` as evidence."""
        line = line_col(node)[0]
        return Evidence(self.line_text(line), self.path, line)

    def nodes(self, capture: str) -> list[ts.Node]:
        """Captured nodes of one kind (see :mod:`killproof.sources.golang.query`)."""
        return self.captures.get(capture, [])

    def qualified(self, node: ts.Node | None) -> tuple[str, str] | None:
        """``(import path, name)`` when ``node`` is ``pkg.Name`` for an imported package."""
        node = unparen(node)
        if node is None or node.type not in ("selector_expression", "qualified_type"):
            return None
        if node.type == "qualified_type":
            pkg, name = node.child_by_field_name("package"), node.child_by_field_name("name")
        else:
            pkg, name = node.child_by_field_name("operand"), node.child_by_field_name("field")
        if pkg is None or pkg.type not in ("identifier", "package_identifier"):
            return None
        path = self.names.get(text(pkg))
        return (path, text(name)) if path is not None else None

    def call_target(self, call: ts.Node) -> tuple[str, str] | None:
        """``(import path, function)`` for a call of a package-level function."""
        return self.qualified(call.child_by_field_name("function"))

    def is_call_to(self, call: ts.Node, path: str, *names: str) -> bool:
        """True when ``call`` calls ``path.name`` for one of ``names``."""
        target = self.call_target(call)
        return target is not None and target[0] == path and target[1] in names


@dataclass
class GoPackage:
    """The files of one Go package (one directory) and facts computed across them."""

    dir: str
    name: str
    files: list[GoFile]
    module_path: str = ""
    go_version: str | None = None
    import_path: str = ""
    root: str = ""
    """The checked tree's directory (absolute), for reading a constant of another package
    of the module; "" when not known."""
    _func_index: dict[str, list[tuple[GoFile, ts.Node]]] | None = field(default=None, repr=False)

    @property
    def is_main(self) -> bool:
        """True for ``package main``."""
        return self.name == "main"

    def go_version_tuple(self) -> tuple[int, int] | None:
        """The go.mod language version as (major, minor), None when unknown."""
        return version_tuple(self.go_version)

    def imports_path(self, *paths: str) -> bool:
        """True when any file imports one of ``paths`` (any alias, blank included)."""
        return any(i.path in paths for f in self.files for i in f.imports)

    def captured(self, capture: str) -> Iterator[tuple[GoFile, ts.Node]]:
        """Every captured node of one kind, with its file, in file order."""
        for f in self.files:
            for node in f.nodes(capture):
                yield f, node

    def selector_calls(self, *names: str) -> Iterator[tuple[GoFile, ts.Node]]:
        """Calls ``x.name(...)`` for any receiver or package ``x``."""
        wanted = set(names)
        for f, call in self.captured("call.sel"):
            parts = call_parts(call)
            if parts is not None and parts[1] in wanted:
                yield f, call

    def package_calls(self, path: str, *names: str) -> Iterator[tuple[GoFile, ts.Node]]:
        """Calls of ``path.name(...)`` (the import resolved through its alias)."""
        for f, call in self.selector_calls(*names):
            if f.is_call_to(call, path, *names):
                yield f, call

    @property
    def functions(self) -> dict[str, list[tuple[GoFile, ts.Node]]]:
        """Top-level functions and methods by name (methods of any receiver share a key)."""
        if self._func_index is None:
            index: dict[str, list[tuple[GoFile, ts.Node]]] = {}
            for f in self.files:
                for decl in f.tree.root_node.named_children:
                    if decl.type in ("function_declaration", "method_declaration"):
                        name = text(decl.child_by_field_name("name"))
                        index.setdefault(name, []).append((f, decl))
            self._func_index = index
        return self._func_index

    def package_vars(self) -> Iterator[tuple[GoFile, ts.Node]]:
        """Every package-level ``var_spec``."""
        for f in self.files:
            for decl in f.tree.root_node.named_children:
                if decl.type != "var_declaration":
                    continue
                for spec in _var_specs(decl):
                    yield f, spec

    def named_references(self, name: str) -> Iterator[tuple[GoFile, ts.Node]]:
        """Every ``name`` and ``x.name`` in code (the identifier or the selector), found by
        a byte search for the name and confirmed on the tree: cheap for names the query
        does not capture (``Stop``, ``Close``, a package function)."""
        needle = name.encode()
        size = len(needle)
        for f in self.files:
            src = f.source
            start = src.find(needle)
            while start >= 0:
                end = start + size
                before = src[start - 1 : start] if start else b""
                after = src[end : end + 1]
                start = src.find(needle, start + 1)
                if _ident_byte(before) or _ident_byte(after):
                    continue
                node = f.tree.root_node.descendant_for_byte_range(end - size, end)
                if node is None or node.type not in ("identifier", "field_identifier"):
                    continue
                parent = node.parent
                if node.type == "field_identifier":
                    if parent is None or parent.type != "selector_expression":
                        continue
                    yield f, parent
                else:
                    yield f, node

    def calls_named(self, name: str) -> Iterator[tuple[GoFile, ts.Node]]:
        """Every call ``name(…)`` or ``x.name(…)`` (see :meth:`named_references`)."""
        for f, ref in self.named_references(name):
            call = ref.parent
            if call is None or call.type != "call_expression":
                continue
            if call.child_by_field_name("function") == ref:
                yield f, call

    def file_of(self, node: ts.Node) -> GoFile:
        """The file a node belongs to (by tree identity)."""
        for f in self.files:
            if f.tree.root_node.id == _root(node).id:
                return f
        raise ValueError("node is not from this package")


def _ident_byte(b: bytes) -> bool:
    return bool(b) and (b.isalnum() or b == b"_" or b[0] >= 0x80)


def _root(node: ts.Node) -> ts.Node:
    while node.parent is not None:
        node = node.parent
    return node


def _var_specs(decl: ts.Node) -> list[ts.Node]:
    out: list[ts.Node] = []
    for child in decl.named_children:
        if child.type == "var_spec":
            out.append(child)
        elif child.type == "var_spec_list":
            out.extend(c for c in child.named_children if c.type == "var_spec")
    return out


def build_file(
    path: str,
    source: bytes,
    tree: ts.Tree,
    imports: tuple[Import, ...] | None = None,
    run_query: bool = True,
) -> GoFile:
    """Facts of one parsed file: its imports and (unless told otherwise) the captures."""
    root = tree.root_node
    if imports is None:
        imports = tuple(file_imports(root))
    captures = query.run(root) if run_query else {}
    return GoFile(path, source, tree, imports, captures)
