"""The import structure of src/killproof (docs/architecture.md): imports run one way.

Every ``import`` and ``from … import`` of every module is read with :mod:`ast` — at module
level and inside functions alike (a late import is still a dependency) — and folded into
units: a top-level module (``killproof/model.py``) is a unit of its own, a package directory
(``killproof/rules/k8s/``) is one unit. A package importing its own sub-packages (a catalog
listing its families) is not an edge; a sub-package importing its parent (a rule importing
``rules/base.py``) is.

Two rules hold:

- no circle between units (each circle is printed with one import per edge);
- no rule module imports a command package (``why``, ``check``, ``drill``, ``commands``,
  ``cli``), and nothing in ``facts`` or ``sources`` imports a rule or a command package.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

COMMANDS = (
    "killproof.why",
    "killproof.check",
    "killproof.drill",
    "killproof.plan",
    "killproof.watch",
    "killproof.fleet",
    "killproof.commands",
)
"""Use-case and command packages: the top of the house."""

COMMAND_MODULES = ("killproof.cli",)

FORBIDDEN = {
    "killproof.rules": COMMANDS + COMMAND_MODULES,
    "killproof.facts": (*COMMANDS, *COMMAND_MODULES, "killproof.rules", "killproof.report"),
    "killproof.sources": (*COMMANDS, *COMMAND_MODULES, "killproof.rules", "killproof.report"),
}
"""Layer → packages none of its modules may import."""

BOTTOM = {
    "killproof.suppression": set(),
    "killproof.sources.golang": {"killproof.model", "killproof.errors", "killproof.suppression"},
    "killproof.sources.deploy": {"killproof.model", "killproof.errors", "killproof.suppression"},
    "killproof.facts": {
        "killproof.model",
        "killproof.errors",
        "killproof.suppression",
        "killproof.sources.deploy",
        "killproof.sources.golang",
    },
    "killproof.analysis": {"killproof.model", "killproof.errors", "killproof.facts"},
}
"""The bottom of the house: each unit → every unit it may import. Facts wrap the parsed
documents (YAML trees with lines, Go syntax trees) and import nothing else above the model."""


@dataclass(frozen=True)
class Import:
    """One import statement: ``importer`` (a module) imports ``imported`` (a module) at
    ``line`` of its file."""

    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} (line {self.line})"


def modules(src: Path) -> dict[str, bool]:
    """Every module under ``src/killproof`` → True when it is a package (``__init__``)."""
    out: dict[str, bool] = {}
    for path in sorted((src / "killproof").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = package
    return out


def _owner(name: str, known: dict[str, bool]) -> str | None:
    """The module of ``known`` that ``name`` (a module or a name in one) lives in."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(src: Path) -> list[Import]:
    """Every import from one killproof module of another, function-level ones included."""
    known = modules(src)
    found: list[Import] = []
    for module, package in known.items():
        path = src / Path(*module.split("."))
        path = path / "__init__.py" if package else path.with_suffix(".py")
        here = module if package else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets, line = [alias.name for alias in node.names], node.lineno
            elif isinstance(node, ast.ImportFrom):
                line = node.lineno
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                # `from pkg import mod` imports the module pkg.mod; `from mod import name`
                # imports mod.
                targets = [f"{base}.{alias.name}" for alias in node.names]
                targets = [t if t in known else base for t in targets]
            for target in targets:
                owner = _owner(target, known) if target.startswith("killproof") else None
                if owner and owner != module:
                    found.append(Import(module, owner, line))
    return found


def unit(module: str, known: dict[str, bool]) -> str:
    """The unit a module belongs to: its package directory, or itself at the top level."""
    if known[module]:
        return module
    parent = module.rpartition(".")[0]
    return module if parent == "killproof" else parent


def _within(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` or one of its sub-packages (a catalog importing its families)."""
    return a == b or b.startswith(a + ".")


def unit_graph(src: Path) -> dict[str, dict[str, Import]]:
    """Unit → unit it imports → one import that proves the edge."""
    known = modules(src)
    graph: dict[str, dict[str, Import]] = defaultdict(dict)
    for imp in imports(src):
        a, b = unit(imp.importer, known), unit(imp.imported, known)
        if not _within(a, b):
            graph[a].setdefault(b, imp)
    return graph


def circles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    nodes = set(graph) | {w for edges in graph.values() for w in edges}
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out)


def describe(component: list[str], graph: dict[str, dict[str, Import]]) -> str:
    """A circle as its units and, for each edge inside it, the import that makes it."""
    inside = set(component)
    edges = [f"    {imp}" for a in component for b, imp in sorted(graph[a].items()) if b in inside]
    return " <-> ".join(component) + "\n" + "\n".join(edges)


def layer_violations(src: Path) -> list[Import]:
    """Imports from a layer of :data:`FORBIDDEN` into a package it must not import."""
    bad = []
    for imp in sorted(set(imports(src)), key=str):
        for layer, banned in FORBIDDEN.items():
            below = imp.importer == layer or imp.importer.startswith(layer + ".")
            if below and any(imp.imported == b or imp.imported.startswith(b + ".") for b in banned):
                bad.append(imp)
    return bad


def test_no_circle_between_packages() -> None:
    graph = unit_graph(SRC)
    found = circles(graph)
    assert not found, "import circles:\n" + "\n".join(describe(c, graph) for c in found)


def test_no_rule_fact_or_source_imports_a_layer_above() -> None:
    bad = layer_violations(SRC)
    assert not bad, "imports against the layers:\n" + "\n".join(f"  {imp}" for imp in bad)


def test_the_bottom_layers_import_only_what_is_below_them() -> None:
    graph = unit_graph(SRC)
    bad = [
        str(imp)
        for unit_name, allowed in BOTTOM.items()
        for target, imp in sorted(graph.get(unit_name, {}).items())
        if target not in allowed
    ]
    assert not bad, "imports above the bottom layers:\n" + "\n".join(bad)


def test_every_rule_lives_in_a_file_named_for_its_id() -> None:
    """``rules/<family>/kpNNN_name.py`` holds the rule KPNNN, and the catalog lists them all."""
    from killproof.rules import all_rules

    found: dict[str, str] = {}
    for path in sorted((SRC / "killproof" / "rules").glob("*/*.py")):
        module = importlib.import_module(".".join(path.relative_to(SRC).with_suffix("").parts))
        rule = getattr(module, "RULE", None)
        if rule is not None:
            assert path.name.startswith(rule.id.lower() + "_"), (path, rule.id)
            found[rule.id] = path.parent.name
        else:
            assert not path.name.startswith("kp"), f"{path} defines no RULE"
    assert sorted(found) == sorted(r.id for r in all_rules())
    assert {i for i, family in found.items() if family == "launch"} == {
        "KP210",
        "KP211",
        "KP212",
        "KP213",
    }


def test_the_walk_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The walker itself: a late import and a relative one are edges, a circle is found,
    and a package importing its own sub-package is not a circle."""
    pkg = tmp_path / "killproof"
    for folder in ("rules", "rules/go", "why"):
        (pkg / folder).mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "rules" / "__init__.py").write_text("def f():\n    from killproof.rules import go\n")
    (pkg / "rules" / "base.py").write_text("")
    (pkg / "rules" / "go" / "__init__.py").write_text("from ..base import *\n")
    (pkg / "rules" / "go" / "kp1.py").write_text("def g():\n    import killproof.why.run\n")
    (pkg / "why" / "__init__.py").write_text("")
    (pkg / "why" / "run.py").write_text("from killproof.rules.go import kp1\n")
    graph = unit_graph(tmp_path)
    assert graph["killproof.rules.go"]["killproof.rules"].line == 1
    assert graph["killproof.rules.go"]["killproof.why"].line == 2
    assert circles(graph) == [["killproof.rules.go", "killproof.why"]]
    assert [str(i) for i in layer_violations(tmp_path)] == [
        "killproof.rules.go.kp1 imports killproof.why.run (line 2)"
    ]


TEST_AREAS = {
    "analysis": ("analysis",),
    "check": ("check",),
    "cli": ("cli.py", "commands"),
    "deploy": ("sources/deploy", "rules/k8s", "rules/launch", "rules/image", "rules/cross"),
    "drill": ("drill", "rules/drill"),
    "fleet": ("fleet",),
    "go": ("sources/golang", "rules/go", "facts/go.py"),
    "plan": ("plan",),
    "report": ("report",),
    "rules": ("rules",),
    "src": ("sources",),
    "watch": ("watch",),
    "why": ("why", "rules/kill", "sources"),
    # the whole product, seen from outside: the docs, the examples, a newcomer's hour, this file
    "architecture": (),
    "docs": (),
    "examples": (),
    "first": (),
}
"""Test-file prefix → the parts of ``src/killproof`` its files test (docs/architecture.md:
tests mirror the source tree by name, one file per module or per family)."""


def test_every_test_file_is_named_for_the_part_of_the_source_it_tests() -> None:
    tests = Path(__file__).resolve().parent
    for path in sorted(tests.glob("test_*.py")):
        area = path.stem.removeprefix("test_").split("_")[0]
        assert area in TEST_AREAS, f"{path.name}: name it test_<area>_… ({sorted(TEST_AREAS)})"
    for parts in TEST_AREAS.values():
        for part in parts:
            assert (SRC / "killproof" / part).exists(), part
