"""One-shot CLI subcommands inside a server's binary: ``app backup``, ``app import``,
``app publish`` run once for the person who typed them and exit; what holds their
goroutines is that person's patience, not a server's traffic.

Code is *in a one-shot command* when the top-level function around it

- is a method of a go-flags command type (a type named ``…Command``/``…Cmd`` with an
  ``Execute`` method) whose name is not a server's (``ServerCommand``, ``AgentCmd``) and
  none of whose methods starts a server;
- or is a func literal given as a cobra ``Run``/``RunE`` or urfave ``Action`` of a command
  literal whose ``Use``/``Name`` is not a server's, and starts no server itself; or a named
  function only ever given there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import tree_sitter as ts

from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.syntax import contains, outermost_function, string_value, text

SERVER_WORDS = re.compile(
    r"(?i)serve|server|daemon|agent|worker|proxy|controller|operator|gateway|listen|start|run$"
)
"""Command names that say the command is (or starts) the long-running process."""
_COMMAND_TYPE = re.compile(r"(?:Command|Cmd)$")
_RUN_KEYS = frozenset({"Run", "RunE", "Action"})
_NAME_KEYS = ("Use", "Name")


def _receiver_type(method: ts.Node) -> str:
    """``T`` for ``func (x *T) m()``."""
    recv = method.child_by_field_name("receiver")
    typ = (
        recv.named_children[0].child_by_field_name("type") if recv and recv.named_children else None
    )
    return text(typ).lstrip("*").split("[", 1)[0] if typ is not None else ""


def _go_flags_command(pkg: GoPackage, method: ts.Node, starts: Iterable[ts.Node]) -> bool:
    typ = _receiver_type(method)
    if not _COMMAND_TYPE.search(typ) or SERVER_WORDS.search(typ.removesuffix("Command")):
        return False
    methods = [
        m
        for f in pkg.files
        for m in f.tree.root_node.named_children
        if m.type == "method_declaration" and _receiver_type(m) == typ
    ]
    if not any(text(m.child_by_field_name("name")) == "Execute" for m in methods):
        return False
    return not any(contains(m, s) for m in methods for s in starts)


def _command_literal_of(field_value: ts.Node) -> ts.Node | None:
    """The composite literal whose ``Run``/``RunE``/``Action`` field is ``field_value``."""
    keyed = field_value.parent
    if keyed is not None and keyed.type == "literal_element":
        keyed = keyed.parent
    if keyed is None or keyed.type != "keyed_element" or not keyed.named_children:
        return None
    if text(keyed.named_children[0]) not in _RUN_KEYS:
        return None
    body = keyed.parent
    return body.parent if body is not None and body.type == "literal_value" else None


def _one_shot_literal(lit: ts.Node) -> bool:
    """A command literal whose name is not a server's."""
    body = lit.child_by_field_name("body")
    for keyed in body.named_children if body is not None else ():
        if keyed.type != "keyed_element" or len(keyed.named_children) < 2:
            continue
        if text(keyed.named_children[0]) in _NAME_KEYS:
            value = keyed.named_children[1]
            if value.type == "literal_element" and value.named_children:
                value = value.named_children[0]
            name = string_value(value)
            return name is not None and not SERVER_WORDS.search(name.split(" ", 1)[0])
    return False


def in_one_shot_command(pkg: GoPackage, node: ts.Node, starts: Iterable[ts.Node]) -> bool:
    """True when ``node`` runs only in a one-shot CLI subcommand (see the module
    docstring); ``starts`` are the package's server start calls."""
    starts = list(starts)
    func = outermost_function(node)
    if func is None:
        return False
    if func.type == "method_declaration":
        return _go_flags_command(pkg, func, starts)
    if func.type == "func_literal":
        lit = _command_literal_of(func)
        return (
            lit is not None
            and _one_shot_literal(lit)
            and not any(contains(func, s) for s in starts)
        )
    name_node = func.child_by_field_name("name")
    refs = [
        ref
        for _, ref in pkg.named_references(text(name_node))
        if ref.type == "identifier" and name_node is not None and ref.id != name_node.id
    ]
    if not refs or any(contains(func, s) for s in starts):
        return False
    for ref in refs:
        lit = _command_literal_of(ref)
        if lit is None or not _one_shot_literal(lit):
            return False
    return True
