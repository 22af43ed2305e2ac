"""KP109 unbounded-cache: a long-lived map that every request can grow and nothing shrinks."""

from __future__ import annotations

import re
from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.caches import sync_map_writes
from killproof.sources.golang.flags import package_constant
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.syntax import (
    call_args,
    enclosing_function,
    outermost_function,
    text,
    unparen,
    walk,
)
from killproof.sources.golang.values import Assigned, assignments_in, field_assignments

_COMPARE = frozenset({"<", "<=", ">", ">=", "==", "!="})


def _is_map_expr(node: ts.Node | None) -> bool:
    node = unparen(node)
    if node is None:
        return False
    if node.type == "composite_literal":
        typ = node.child_by_field_name("type")
        return typ is not None and typ.type == "map_type"
    if node.type == "call_expression" and text(node.child_by_field_name("function")) == "make":
        args = call_args(node)
        return bool(args) and args[0].type == "map_type"
    return False


def _package_maps(pkg: GoPackage) -> dict[str, ts.Node]:
    out: dict[str, ts.Node] = {}
    for _, spec in pkg.package_vars():
        typ = spec.child_by_field_name("type")
        for target, assigned in assignments_in(spec):
            if (typ is not None and typ.type == "map_type") or _is_map_expr(assigned.value):
                out[text(target)] = spec
    return out


def _map_fields(pkg: GoPackage) -> dict[str, ts.Node]:
    out: dict[str, ts.Node] = {}
    for f in pkg.files:
        if b"map[" not in f.source:
            continue
        for decl in f.tree.root_node.named_children:
            if decl.type != "type_declaration":
                continue
            for node in walk(decl):
                if node.type == "field_declaration":
                    typ = node.child_by_field_name("type")
                    if typ is not None and typ.type == "map_type":
                        for name in node.children_by_field_name("name"):
                            out[text(name)] = node
    return out


MapKey = tuple[str, bool]
"""A long-lived map: (variable or field name, True for a struct field)."""

# Statements that (re)define a plain identifier inside a function (a local shadows the
# package variable of that name).
_DEFINING = frozenset({"short_var_declaration", "assignment_statement", "var_spec"})
_SYNC_MAP_REMOVES = ("Delete", "LoadAndDelete", "CompareAndDelete", "Clear")


def _map_key(expr: ts.Node | None) -> MapKey | None:
    """``m`` → (m, False); ``x.m`` → (m, True); anything else → None."""
    expr = unparen(expr)
    if expr is None:
        return None
    if expr.type == "identifier":
        return text(expr), False
    if expr.type == "selector_expression":
        return text(expr.child_by_field_name("field")), True
    return None


def _bounded_maps(pkg: GoPackage) -> set[MapKey]:
    """Maps something bounds anywhere in the package: delete/clear on it, a len() comparison,
    or a reassignment in a function. One pass over the package (linear in its size)."""
    out: set[MapKey] = set()
    for _, call in pkg.captured("call.id"):
        fn = text(call.child_by_field_name("function"))
        if fn not in ("delete", "clear", "len"):
            continue
        args = call_args(call)
        key = _map_key(args[0]) if args else None
        if key is None:
            continue
        if fn == "len":
            parent = call.parent
            op = parent.child_by_field_name("operator") if parent is not None else None
            if parent is None or parent.type != "binary_expression" or text(op) not in _COMPARE:
                continue
        out.add(key)
    for f in pkg.files:
        # An assignment statement only appears in a function body (or a func literal).
        for node in walk(f.tree.root_node, into_funcs=True):
            if node.type == "assignment_statement":
                for target, _ in assignments_in(node):
                    if (key := _map_key(target)) is not None:
                        out.add(key)
    return out


def _local_names(func: ts.Node) -> frozenset[str]:
    """Identifiers a function (its func literals included) assigns or declares."""
    return frozenset(
        text(target)
        for node in walk(func, into_funcs=True)
        if node.type in _DEFINING
        for target, _ in assignments_in(node)
        if target.type == "identifier"
    )


def _removed_sync_maps(pkg: GoPackage) -> set[MapKey]:
    """sync.Maps something deletes from or clears (``m.Delete(k)``, ``s.m.Clear()``)."""
    out: set[MapKey] = set()
    for _, call in pkg.selector_calls(*_SYNC_MAP_REMOVES):
        fn = unparen(call.child_by_field_name("function"))
        key = _map_key(fn.child_by_field_name("operand")) if fn is not None else None
        if key is not None:
            out.add(key)
    return out


_CONFIG_NAME = re.compile(r"(?i)^(params|cfg|conf|config|opts|options|settings|flags|args)$")


class Configured:
    """Answers "does this expression hold a configured value?" for one package, each
    name's lookups (field assignments, calls) done once: a package with thousands of
    map writes stays linear."""

    def __init__(self, pkg: GoPackage) -> None:
        self.pkg = pkg
        self._sets: dict[str, list[Assigned]] = {}
        self._calls: dict[str, list[ts.Node]] = {}

    def field_sets(self, field: str) -> list[Assigned]:
        """Every assignment to a struct field called ``field``."""
        if field not in self._sets:
            self._sets[field] = field_assignments(self.pkg, field)
        return self._sets[field]

    def calls(self, name: str) -> list[ts.Node]:
        """Every call of a function or method called ``name``."""
        if name not in self._calls:
            self._calls[name] = [c for _, c in self.pkg.calls_named(name)]
        return self._calls[name]

    def __call__(self, expr: ts.Node | None, depth: int = 0) -> bool:
        """``expr`` holds a configured value: a field of something named for
        configuration (``params.DSN``, ``cfg.Upstream``), a struct field only ever set
        from one, or a parameter every call in the package passes one for."""
        expr = unparen(expr)
        if expr is None or depth > 3:
            return False
        if expr.type == "selector_expression":
            operand = unparen(expr.child_by_field_name("operand"))
            while operand is not None and operand.type == "selector_expression":
                if _CONFIG_NAME.match(text(operand.child_by_field_name("field"))):
                    return True
                operand = unparen(operand.child_by_field_name("operand"))
            if operand is not None and _CONFIG_NAME.match(text(operand)):
                return True
            sets = self.field_sets(text(expr.child_by_field_name("field")))
            return bool(sets) and all(self(a.value, depth + 1) for a in sets)
        if expr.type != "identifier":
            return False
        # A closure's free variable is its enclosing function's parameter.
        func = enclosing_function(expr)
        index = _parameter_index(func, text(expr)) if func is not None else None
        while func is not None and index is None and func.type == "func_literal":
            func = enclosing_function(func)
            index = _parameter_index(func, text(expr)) if func is not None else None
        if func is None or index is None or func.type == "func_literal":
            return False
        calls = self.calls(text(func.child_by_field_name("name")))
        return bool(calls) and all(
            len(args := call_args(c)) > index and self(args[index], depth + 1) for c in calls
        )


_LITERALS = frozenset(
    {
        *("interpreted_string_literal", "raw_string_literal", "int_literal"),
        *("float_literal", "rune_literal", "true", "false"),
    }
)


def _constant_key(pkg: GoPackage, expr: ts.Node | None) -> bool:
    """``m["total"] = …``, ``m[keyTotal] = …`` (a package ``const``): the write adds one
    entry at most, however often it runs."""
    expr = unparen(expr)
    if expr is None:
        return False
    if expr.type in _LITERALS:
        return True
    if expr.type == "binary_expression":
        return all(_constant_key(pkg, side) for side in expr.named_children)
    return expr.type == "identifier" and package_constant(pkg, expr) is not None


def _parameter_index(func: ts.Node, name: str) -> int | None:
    """The position of parameter ``name`` of ``func`` (``a, b string`` count as two)."""
    params = func.child_by_field_name("parameters")
    i = 0
    for decl in params.named_children if params is not None else ():
        names = decl.children_by_field_name("name") or [decl]
        for n in names:
            if n is not decl and text(n) == name:
                return i
            i += 1
    return None


def _check(facts: PackageFacts) -> Iterator[Finding]:
    if not facts.request_paths.any:
        return
    yield from _map_writes(facts)
    removed: set[MapKey] | None = None
    for w in sync_map_writes(facts.pkg):
        if not facts.request_paths.contains(w.call):
            continue
        if removed is None:
            removed = _removed_sync_maps(facts.pkg)
        if (w.name, w.is_field) in removed:
            continue
        yield RULE.finding(
            f"sync.Map `{w.name}` lives as long as the process and every request can Store "
            "into it: nothing in the package deletes from it",
            w.file.location(w.call),
            [w.file.evidence(w.call), facts.pkg.file_of(w.declaration).evidence(w.declaration)],
        )


def _map_writes(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    writes = list(pkg.captured("idxassign"))
    if not writes:
        return
    maps = _package_maps(pkg)
    fields = _map_fields(pkg) if any(b"map[" in f.source for f in pkg.files) else {}
    if not maps and not fields:
        return
    if not facts.request_paths.any:
        return
    # Indexed once per package (a rule must stay linear in the package, see issue 9).
    bounded: set[MapKey] | None = None
    is_configured = Configured(pkg)
    locals_of: dict[int, frozenset[str]] = {}
    for f, stmt in writes:
        left = stmt.child_by_field_name("left")
        if left is None:
            continue
        for target in left.named_children:
            if target.type != "index_expression":
                continue
            operand = unparen(target.child_by_field_name("operand"))
            if operand is None:
                continue
            if operand.type == "identifier" and text(operand) in maps:
                name, is_field = text(operand), False
                func = outermost_function(stmt)
                if func is not None:
                    if func.id not in locals_of:
                        locals_of[func.id] = _local_names(func)
                    if name in locals_of[func.id]:
                        continue  # a local shadows the package variable
            elif operand.type == "selector_expression":
                name, is_field = text(operand.child_by_field_name("field")), True
                if name not in fields:
                    continue
            else:
                continue
            if not facts.request_paths.contains(stmt):
                continue
            index = target.child_by_field_name("index")
            if _constant_key(pkg, index) or is_configured(index):
                continue  # one entry per constant or configured value (a DSN, an upstream)
            if bounded is None:
                bounded = _bounded_maps(pkg)
            if (name, is_field) in bounded:
                continue
            decl = fields[name] if is_field else maps[name]
            yield RULE.finding(
                f"`{text(operand)}` lives as long as the process and grows on every request: "
                "nothing in the package deletes from it, bounds its size or evicts it",
                f.location(stmt),
                [f.evidence(stmt), pkg.file_of(decl).evidence(decl)],
            )


RULE: Rule[PackageFacts] = Rule(
    id="KP109",
    name="unbounded-cache",
    severity=Severity.ERROR,
    summary="A package-level or struct map written per request with no delete, bound or eviction.",
    docs=RuleDocs(
        what=(
            "`m[k] = v` on a request path (a handler registered anywhere in the package, "
            "a function with a handler signature, or anything they call) where `m` is a "
            "package-level map or a map field of a struct, and the package never calls "
            "`delete`/`clear` on it, never compares its `len` to a bound, and never "
            "replaces it; and `Store`/`LoadOrStore` on a package-level or field "
            "`sync.Map` that nothing in the package ever deletes from. A map keyed by a "
            "configured value grows by one entry per configured value and is not "
            "reported: a field of something named for configuration (`params.DSN`, "
            "`cfg.Upstream`, `opts.Region`), a struct field only ever set from one, or a "
            "parameter every call in the package passes one for. Nor is a write whose key "
            "is a constant (a literal, a package `const`): it adds one entry at most."
        ),
        why=(
            "A map keyed by something the client controls (a URL, a query string, a user "
            "id) grows by one entry per distinct request, forever. Go maps never shrink "
            "their buckets either. Memory climbs steadily with traffic until the container "
            "limit is reached and the kernel OOM-kills the process, usually hours after "
            "a deploy, and again after every restart."
        ),
        example=(
            "```go\nvar responses = map[string][]byte{}\n…\nresponses[r.URL.RawQuery] = body\n```"
        ),
        fix=(
            "Bound it: an LRU with a maximum size (hashicorp/golang-lru, ristretto), "
            "expiry with a janitor that deletes old keys, or a `len(m) >= max` check."
        ),
        references=(
            "https://go.dev/doc/gc-guide",
            "https://github.com/golang/go/issues/20135",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package api\n\nimport "net/http"\n\nvar seen = map[string]int{}\n\n'
            "func track(w http.ResponseWriter, r *http.Request) {\n"
            "\tseen[r.URL.Path]++\n\tseen[r.URL.RawQuery] = 1\n}\n",
            "api.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package api\n\nimport "net/http"\n\nconst maxSeen = 10000\n\n'
            "var seen = map[string]int{}\n\n"
            "func track(w http.ResponseWriter, r *http.Request) {\n"
            "\tif len(seen) >= maxSeen {\n\t\tclear(seen)\n\t}\n"
            "\tseen[r.URL.RawQuery] = 1\n}\n",
            "api.go",
        ),
    ),
    family="go",
)
