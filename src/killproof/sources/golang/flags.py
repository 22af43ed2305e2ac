"""Values a program is configured with at start-up: command-line flag defaults and
package-level constants, as the literal expression that holds them.

An address read from ``flag.StringVar(&addr, "listen", ":6060", …)`` listens on
``:6060`` unless someone passes the flag; the default is what a deploy gets when it
does not. Read here (all in the same package):

- ``flag.StringVar(&x, name, def, usage)`` and ``fs.StringVar``/pflag's
  ``StringVarP(&x, name, short, def, usage)`` on any flag set;
- ``x := flag.String(name, def, usage)`` (and ``StringP``), used as ``*x``;
- kingpin-style chains ``app.Flag(…).Default(def).String()``;
- ``const x = ":9090"``;
- a flags struct's field tag, ``Listen string `default:":8080"``` (kong, go-arg,
  envconfig), for ``params.Listen``;
- a string constant of another package of the same module, ``constants.ListenAddr``
  (:func:`module_constant`, read as text from that package's directory).
"""

from __future__ import annotations

import re
from pathlib import Path

import tree_sitter as ts

from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.syntax import call_args, call_parts, first_named, text, unparen, walk
from killproof.sources.golang.values import definitions, package_assignments

_VAR_SETTERS = {"StringVar": 2, "StringVarP": 3}
"""Flag functions that store into a pointer: the index of the default argument."""
_GETTERS = {"String": 1, "StringP": 2}
"""Flag functions that return a pointer: the index of the default argument."""


def startup_value(pkg: GoPackage, expr: ts.Node | None) -> ts.Node | str | None:
    """The literal a flag or constant ``expr`` starts with (``*addr``, ``addr``,
    ``opts.Listen``), or the text of a struct tag's ``default:"…"`` for a field of a
    flags struct (kong, go-arg, envconfig); None when it is not one."""
    node = unparen(expr)
    if node is None:
        return None
    if node.type == "unary_expression" and text(node.child_by_field_name("operator")) == "*":
        operand = unparen(node.child_by_field_name("operand"))
        return _getter_default(pkg, operand) if operand is not None else None
    if node.type not in ("identifier", "selector_expression"):
        return None
    found = _var_setter_default(pkg, node)
    if found is not None:
        return found
    if node.type == "selector_expression":
        qualified = pkg.file_of(node).qualified(node)
        constant = module_constant(pkg, *qualified) if qualified is not None else None
        if constant is not None:
            return constant
        return tag_default(pkg, text(node.child_by_field_name("field")))
    return package_constant(pkg, node)


MODULE_CONSTANT_MAX_BYTES = 2 << 20
"""At most this many bytes (per file) are read from another package for a constant."""
_MODULE_CONSTANT_MAX_FILES = 200


def module_constant(pkg: GoPackage, import_path: str, name: str) -> str | None:
    """The string a constant (or ``var``) ``name`` of the package ``import_path`` is
    declared with, when that package is in ``pkg``'s module and in the checked tree
    (``const ListenAddr = ":9090"``, in a ``const (…)`` block too); None when it is not
    one string literal, not found, or declared more than once."""
    rel = _module_relative(pkg.module_path, import_path)
    module_dir = _module_dir(pkg)
    if rel is None or module_dir is None or not pkg.root:
        return None
    root = Path(pkg.root)
    directory = (root / module_dir / rel).resolve()
    if not directory.is_relative_to(root.resolve()) or not directory.is_dir():
        return None
    pattern = re.compile(
        rb"^\s*(?:const\s+|var\s+)?" + re.escape(name.encode())
        + rb'(?:\s+string)?\s*=\s*"(?P<value>[^"\\\n]*)"\s*(?://.*)?$',
        re.MULTILINE,
    )  # fmt: skip
    found: set[bytes] = set()
    files = sorted(p for p in directory.glob("*.go") if not p.name.endswith("_test.go"))
    for path in files[:_MODULE_CONSTANT_MAX_FILES]:
        try:
            with path.open("rb") as f:
                source = f.read(MODULE_CONSTANT_MAX_BYTES)
        except OSError:
            continue
        if name.encode() in source:
            found.update(m.group("value") for m in pattern.finditer(source))
    return found.pop().decode("utf-8", "replace") if len(found) == 1 else None


def _module_relative(module_path: str, import_path: str) -> str | None:
    """``internal/pkg/constants`` for ``example.com/app/internal/pkg/constants`` in module
    ``example.com/app``; None outside the module."""
    if not module_path or not import_path.startswith(module_path + "/"):
        return None
    return import_path[len(module_path) + 1 :]


def _module_dir(pkg: GoPackage) -> str | None:
    """The module's directory below the checked root, from the package's directory and
    import path (``svc/internal/x`` holding ``example.com/app/internal/x`` → ``svc``)."""
    if pkg.import_path == pkg.module_path:
        return pkg.dir
    rel = _module_relative(pkg.module_path, pkg.import_path)
    if rel is None:
        return None
    if pkg.dir == rel:
        return "."
    if pkg.dir.endswith("/" + rel):
        return pkg.dir[: -len(rel) - 1]
    return None


_TAG_DEFAULT = re.compile(r'(?:^|\s)default:"(?P<value>[^"]*)"')


def tag_default(pkg: GoPackage, field: str) -> str | None:
    """``default:":8081"`` in the tag of the one struct field called ``field``."""
    found: list[str] = []
    needle = field.encode()
    for f in pkg.files:
        if needle not in f.source or b"default:" not in f.source:
            continue
        for decl in f.tree.root_node.named_children:
            if decl.type != "type_declaration":
                continue
            for n in walk(decl):
                if n.type != "field_declaration":
                    continue
                if field not in (text(x) for x in n.children_by_field_name("name")):
                    continue
                tag = n.child_by_field_name("tag")
                m = _TAG_DEFAULT.search(text(tag).strip("`")) if tag is not None else None
                if m is not None:
                    found.append(m.group("value"))
    return found[0] if len(found) == 1 else None


def _getter_default(pkg: GoPackage, ptr: ts.Node) -> ts.Node | None:
    """``*x`` where ``x := flag.String(name, def, usage)`` or a kingpin chain."""
    if ptr.type != "identifier":
        return None
    defs = definitions(pkg, ptr) or package_assignments(pkg, text(ptr))
    values = [unparen(d.value) for d in defs if d.value is not None]
    if len(values) != 1 or values[0] is None or values[0].type != "call_expression":
        return None
    return _flag_call_default(values[0])


def _flag_call_default(call: ts.Node) -> ts.Node | None:
    parts = call_parts(call)
    if parts is None or parts[1] not in _GETTERS:
        return None
    # kingpin: app.Flag("listen", "…").Default(":9100").String()
    fn = unparen(call.child_by_field_name("function"))
    operand = fn.child_by_field_name("operand") if fn is not None else None
    while operand is not None and operand.type == "call_expression":
        inner = call_parts(operand)
        args = call_args(operand)
        if inner is not None and inner[1] == "Default" and args:
            return args[0]
        inner_fn = unparen(operand.child_by_field_name("function"))
        operand = inner_fn.child_by_field_name("operand") if inner_fn is not None else None
    args = call_args(call)
    index = _GETTERS[parts[1]]
    return args[index] if len(args) > index else None


def _var_setter_default(pkg: GoPackage, target: ts.Node) -> ts.Node | None:
    """``flag.StringVar(&target, name, def, usage)`` anywhere in the package."""
    wanted = text(target)
    for _, call in pkg.calls_named("StringVar"):
        found = _setter_default(call, "StringVar", wanted)
        if found is not None:
            return found
    for _, call in pkg.calls_named("StringVarP"):
        found = _setter_default(call, "StringVarP", wanted)
        if found is not None:
            return found
    return None


def _setter_default(call: ts.Node, name: str, wanted: str) -> ts.Node | None:
    args = call_args(call)
    index = _VAR_SETTERS[name]
    if len(args) <= index:
        return None
    first = unparen(args[0])
    if first is None or first.type != "unary_expression":
        return None
    pointee = unparen(first.child_by_field_name("operand"))
    return args[index] if pointee is not None and text(pointee) == wanted else None


def package_constant(pkg: GoPackage, ident: ts.Node) -> ts.Node | None:
    """The value of a package-level ``const ident = …`` with one name."""
    name = text(ident)
    for f in pkg.files:
        if name.encode() not in f.source:
            continue
        for decl in f.tree.root_node.named_children:
            if decl.type != "const_declaration":
                continue
            for spec in decl.named_children:
                if spec.type != "const_spec":
                    continue
                names = [text(n) for n in spec.children_by_field_name("name")]
                value = spec.child_by_field_name("value")
                if names == [name] and value is not None:
                    return first_named(value)
    return None
