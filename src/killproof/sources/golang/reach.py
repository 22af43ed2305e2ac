"""Whether a finding sits in a function nothing calls: judged where it is cheap.

A client built in ``func WaitForEndpoint(…)`` that no code in the tree calls never runs in
a deployed binary. Only plain functions are judged (a method may be called through an
interface whose caller is not in the tree, ``RoundTrip`` by net/http), and ``main`` and
``init`` always run. A function is *used*

- in its own package when its name appears as an identifier anywhere but in its own
  declaration (a call, a function value handed on, a map of handlers), in the package's
  parsed files or, as plain text, in its generated files (``wire_gen.go`` calls
  constructors);
- from another package when some file of the tree (test files aside) has ``.Name``
  (:func:`selector_names`, read as text: a comment naming ``httpx.Name`` keeps it too).

A function not used in its own package is decided once every package has been read
(``check_go`` keeps the finding aside until then): its findings are dropped when the tree
builds a program (a library tree's API is its callers' business) and no package names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import tree_sitter as ts

from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.syntax import text

REACHABILITY_RULES = frozenset({"KP114"})
"""Rules whose findings are dropped in functions nothing calls."""
_ALWAYS_RUN = frozenset({"main", "init"})
_SELECTOR = re.compile(rb"\.([A-Z][A-Za-z0-9_]*)")
_REFERENCE_TYPES = frozenset({"identifier", "field_identifier"})


@dataclass(frozen=True)
class Reach:
    """Where a finding's function stands: ``used`` (or not a plain function: keep),
    ``unused`` (drop), or ``exported`` (ask the rest of the tree for ``.name``)."""

    state: str
    name: str = ""


USED = Reach("used")
UNUSED = Reach("unused")


def selector_names(sources: Iterable[bytes]) -> frozenset[str]:
    """Every exported name written after a dot (``httpx.WaitForEndpoint``, ``c.Do``)."""
    return frozenset(m.decode() for s in sources for m in _SELECTOR.findall(s))


def reach_of(pkg: GoPackage, path: str, line: int, generated: Iterable[bytes] = ()) -> Reach:
    """How the plain function holding ``path:line`` (1-based) is used (module docstring)."""
    decl = _top_function(pkg, path, line)
    if decl is None:
        return USED  # package level, a method, or not found: judged as it is
    name_node = decl.child_by_field_name("name")
    if name_node is None:
        return USED
    name = text(name_node)
    if name in _ALWAYS_RUN or _used_in_package(pkg, name, path, name_node.start_byte, generated):
        return USED
    if name[:1].isupper() and pkg.name != "main":
        return Reach("exported", name)
    return UNUSED  # no other package can name it


def _top_function(pkg: GoPackage, path: str, line: int) -> ts.Node | None:
    """The top-level ``func Name(…)`` declaration spanning ``line`` in ``path``."""
    for f in pkg.files:
        if f.path != path:
            continue
        for decl in f.tree.root_node.named_children:
            if decl.type != "function_declaration":
                continue
            if decl.start_point[0] + 1 <= line <= decl.end_point[0] + 1:
                return decl
    return None


def _used_in_package(
    pkg: GoPackage, name: str, path: str, declared_at: int, generated: Iterable[bytes]
) -> bool:
    """``name`` is an identifier somewhere in the package other than its declaration."""
    word = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
    if any(word.search(s) for s in generated):
        return True
    for f in pkg.files:
        for m in word.finditer(f.source):
            node = f.tree.root_node.descendant_for_byte_range(m.start(), m.end())
            if node is None or node.type not in _REFERENCE_TYPES:
                continue  # a comment, a string
            if f.path == path and node.start_byte == declared_at:
                continue  # the declaration itself
            return True
    return False
