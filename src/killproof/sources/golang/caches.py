"""``sync.Map`` values that live as long as the process (package variables and struct
fields), and what writes to and removes from them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.syntax import text, unparen, walk

_WRITES = ("Store", "LoadOrStore", "Swap")
_REMOVES = ("Delete", "LoadAndDelete", "CompareAndDelete", "Clear")


@dataclass(frozen=True)
class SyncMapWrite:
    """``m.Store(k, v)`` on a long-lived sync.Map: ``name`` is the variable or field name."""

    file: GoFile
    call: ts.Node
    name: str
    is_field: bool
    declaration: ts.Node


def _is_sync_map(f: GoFile, typ: ts.Node | None) -> bool:
    if typ is not None and typ.type == "pointer_type":
        typ = typ.named_children[0] if typ.named_children else None
    return f.qualified(typ) == ("sync", "Map")


def long_lived_sync_maps(pkg: GoPackage) -> dict[tuple[str, bool], ts.Node]:
    """(name, is_field) → declaration, for package vars and struct fields of sync.Map."""
    out: dict[tuple[str, bool], ts.Node] = {}
    for f, spec in pkg.package_vars():
        if _is_sync_map(f, spec.child_by_field_name("type")):
            for n in spec.children_by_field_name("name"):
                out[(text(n), False)] = spec
    for f in pkg.files:
        if b"sync.Map" not in f.source and b"Map" not in f.source:
            continue
        for decl in f.tree.root_node.named_children:
            if decl.type != "type_declaration":
                continue
            for node in walk(decl):
                if node.type == "field_declaration" and _is_sync_map(
                    f, node.child_by_field_name("type")
                ):
                    for n in node.children_by_field_name("name"):
                        out[(text(n), True)] = node
    return out


def _target(call: ts.Node) -> tuple[str, bool] | None:
    fn = unparen(call.child_by_field_name("function"))
    operand = unparen(fn.child_by_field_name("operand")) if fn is not None else None
    if operand is None:
        return None
    if operand.type == "identifier":
        return text(operand), False
    if operand.type == "selector_expression":
        return text(operand.child_by_field_name("field")), True
    return None


def sync_map_writes(pkg: GoPackage) -> Iterator[SyncMapWrite]:
    """Every Store/LoadOrStore/Swap on a long-lived sync.Map."""
    maps = long_lived_sync_maps(pkg)
    if not maps:
        return
    for f, call in pkg.selector_calls(*_WRITES):
        target = _target(call)
        if target is not None and target in maps:
            yield SyncMapWrite(f, call, target[0], target[1], maps[target])


def sync_map_shrinks(pkg: GoPackage, name: str, is_field: bool) -> bool:
    """True when something deletes from (or clears) the map anywhere in the package."""
    return any(_target(call) == (name, is_field) for _, call in pkg.selector_calls(*_REMOVES))
