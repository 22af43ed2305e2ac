"""Developer tools inside a server's binary: code that starts a local HTTP server for one
person (a documentation viewer, a static file server "for development only", a preview
behind ``--dev``) and is never what a deployment runs.

A node is *dev-only* when the top-level function around it

- says so: its doc comment, or a comment on the node's own line, reads "for development
  only", "development use", "dev only", "local development", "not for production";
- opens a browser for its user (``github.com/pkg/browser``, ``github.com/cli/browser``,
  or ``exec.Command("xdg-open"|"open", …)``): a server for the person at the keyboard;
- or is only ever reached (every reference to it in the package, at least one) from
  dev-only places: a CLI subcommand literal (cobra ``Command{Short: …}``, urfave
  ``Command{Usage: …}``) whose description says development as above, a branch under a
  condition named for it (``if *dev``, ``if cfg.DevMode``, ``if *serveDocs``), or another
  dev-only function (a few calls deep).
"""

from __future__ import annotations

import re

import tree_sitter as ts

from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.syntax import (
    call_args,
    outermost_function,
    string_value,
    text,
    unparen,
    walk,
)

DEV_TEXT = re.compile(
    r"(?i)\b(?:only )?for (?:local )?development\b|\bdevelopment (?:only|use|purposes)\b"
    r"|\bdev(?:elopment)?[- ]only\b|\blocal development\b"
    r"|\bnot (?:meant |intended |suitable )?for production\b"
)
"""Words that say a piece of code is a developer's tool, not the deployed server."""
_DEV_NAME = re.compile(
    r"(?i)^(?:is)?dev(?:elop(?:ment|er)?)?(?:mode|server)?$|^(?:serve)?docs(?:server)?$"
)
"""A flag or setting that switches a developer mode on (``dev``, ``devMode``, ``serveDocs``)."""
_BROWSERS = ("github.com/pkg/browser", "github.com/cli/browser")
_OPENERS = frozenset({"xdg-open", "open", "rundll32", "explorer"})
_DESCRIPTIONS = frozenset({"Short", "Long", "Usage", "UsageText", "Description"})
_DEPTH = 4
"""How many calls up a dev-only caller is followed."""


def dev_only(pkg: GoPackage, f: GoFile, node: ts.Node) -> bool:
    """True when ``node`` runs only in a developer tool (see the module docstring)."""
    if DEV_TEXT.search(f.line_text(node.start_point[0] + 1)):
        return True
    func = outermost_function(node)
    return func is not None and _dev_function(pkg, f, func, _DEPTH, set())


def _dev_function(pkg: GoPackage, f: GoFile, func: ts.Node, depth: int, seen: set[int]) -> bool:
    if func.id in seen or depth < 0:
        return False
    seen.add(func.id)
    if _doc_says_dev(func) or _opens_browser(f, func):
        return True
    if func.type != "function_declaration":
        return False  # a method is reached through values this does not follow
    name_node = func.child_by_field_name("name")
    name, own = text(name_node), name_node.id if name_node is not None else -1
    refs = [
        (g, ref)
        for g, ref in pkg.named_references(name)
        if ref.type == "identifier" and ref.id != own
    ]
    return bool(refs) and all(_dev_place(pkg, g, ref, depth, seen) for g, ref in refs)


def _dev_place(pkg: GoPackage, f: GoFile, ref: ts.Node, depth: int, seen: set[int]) -> bool:
    """``ref`` sits in a dev subcommand's literal, under a dev condition, or in a dev-only
    function."""
    cur = ref.parent
    while cur is not None and cur.type not in ("function_declaration", "method_declaration"):
        if cur.type == "composite_literal" and _dev_command(cur):
            return True
        if cur.type == "if_statement":
            cond = cur.child_by_field_name("condition")
            consequence = cur.child_by_field_name("consequence")
            if (
                consequence is not None
                and consequence.start_byte <= ref.start_byte < consequence.end_byte
                and _names_dev(cond)
            ):
                return True
        cur = cur.parent
    func = outermost_function(ref)
    return func is not None and _dev_function(pkg, f, func, depth - 1, seen)


def _dev_command(literal: ts.Node) -> bool:
    """A composite literal (a CLI command) whose description fields say development."""
    body = literal.child_by_field_name("body")
    if body is None:
        return False
    for element in body.named_children:
        if element.type != "keyed_element" or len(element.named_children) != 2:
            continue
        key, value = element.named_children
        if text(key) in _DESCRIPTIONS:
            words = string_value(unparen(first_expression(value)))
            if words is not None and DEV_TEXT.search(words):
                return True
    return False


def first_expression(node: ts.Node) -> ts.Node | None:
    """The expression of a ``literal_element`` (or the node itself)."""
    if node.type == "literal_element":
        return node.named_children[0] if node.named_children else None
    return node


def _names_dev(cond: ts.Node | None) -> bool:
    """The condition reads a flag or setting named for a developer mode."""
    if cond is None:
        return False
    names = [n for n in walk(cond) if n.type in ("identifier", "field_identifier")]
    if cond.type in ("identifier", "field_identifier"):
        names.append(cond)
    return any(_DEV_NAME.search(text(n)) for n in names)


def _doc_says_dev(func: ts.Node) -> bool:
    """The comment lines right above the declaration say development."""
    lines: list[str] = []
    row = func.start_point[0]
    prev = func.prev_named_sibling
    while prev is not None and prev.type == "comment" and prev.end_point[0] == row - 1:
        lines.append(text(prev))
        row = prev.start_point[0]
        prev = prev.prev_named_sibling
    return any(DEV_TEXT.search(line) for line in lines)


def _opens_browser(f: GoFile, func: ts.Node) -> bool:
    """The function opens a browser for its user."""
    for n in walk(func, into_funcs=True):
        if n.type != "call_expression":
            continue
        target = f.call_target(n)
        if target is None:
            continue
        if target[0] in _BROWSERS:
            return True
        if target == ("os/exec", "Command"):
            args = call_args(n)
            if args and string_value(unparen(args[0])) in _OPENERS:
                return True
    return False
