"""KP107 server-without-timeouts: an HTTP server that lets a client hold a connection
(and its goroutine and buffers) forever."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.devtools import dev_only
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.servers import (
    HTTP,
    StartKind,
    listener_address,
    literal_field,
    resolve_address,
)
from killproof.sources.golang.syntax import call_args, call_parts, text
from killproof.sources.golang.values import assignments_in

_TIMEOUTS = ("ReadHeaderTimeout", "ReadTimeout")


def _set_later(pkg: GoPackage, literal: ts.Node) -> bool:
    """``srv.ReadHeaderTimeout = …`` in the function that built it, or anywhere in the
    package (the server may be kept in a field and configured by another method)."""
    del literal  # any such assignment in the package may be for this server: stay silent
    roots = [f.tree.root_node for f in pkg.files if b"Timeout" in f.source]
    for root in roots:
        for stmt in _assignments(root):
            for target, _ in assignments_in(stmt):
                field = target.child_by_field_name("field")
                if target.type == "selector_expression" and text(field) in _TIMEOUTS:
                    return True
    return False


def _assignments(root: ts.Node) -> Iterator[ts.Node]:
    from killproof.sources.golang.syntax import walk

    for n in walk(root, into_funcs=True):
        if n.type == "assignment_statement":
            yield n


def _served_on_loopback(facts: PackageFacts, literal: ts.Node) -> bool:
    """The server is started only with ``Serve(lis)`` on listeners bound to loopback."""
    serves = [
        s
        for s in facts.starts
        if s.server is not None
        and s.server.id == literal.id
        and (call_parts(s.call) or ("", ""))[1] in ("Serve", "ServeTLS")
    ]
    return bool(serves) and all(
        bool(args := call_args(s.call)) and listener_address(facts.pkg, args[0]).loopback
        for s in serves
    )


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    for f, lit in pkg.captured("lit"):
        if f.qualified(lit.child_by_field_name("type")) != (HTTP, "Server"):
            continue
        if any(literal_field(lit, name) is not None for name in _TIMEOUTS):
            continue
        if _set_later(pkg, lit) or dev_only(pkg, f, lit):
            continue  # configured elsewhere; a developer's local tool
        if resolve_address(pkg, literal_field(lit, "Addr")).loopback or _served_on_loopback(
            facts, lit
        ):
            continue  # only this host's processes can be slow clients
        yield RULE.finding(
            "http.Server without ReadHeaderTimeout or ReadTimeout: slow or idle clients "
            "hold a goroutine and its buffers for as long as they like",
            f.location(lit),
            [f.evidence(lit)],
        )
    for start in facts.starts:
        if start.kind is StartKind.PACKAGE_LEVEL:
            if resolve_address(pkg, start.addr).loopback:
                continue
            f = start.file
            yield RULE.finding(
                "the package-level http server functions have no timeouts at all: "
                "every slow client holds a goroutine and its buffers",
                f.location(start.call),
                [f.evidence(start.call)],
            )


RULE: Rule[PackageFacts] = Rule(
    id="KP107",
    name="server-without-timeouts",
    severity=Severity.WARNING,
    summary="http.Server without ReadHeaderTimeout/ReadTimeout; package-level ListenAndServe.",
    docs=RuleDocs(
        what=(
            "`http.Server{…}` literals that set neither `ReadHeaderTimeout` nor "
            "`ReadTimeout` (and no `x.ReadHeaderTimeout = …` anywhere in the package), and the "
            "package-level `http.ListenAndServe`, `ListenAndServeTLS`, `Serve`, `ServeTLS`. "
            "A server whose address is loopback (`127.0.0.1:6060`, `localhost:…`, also as a "
            "flag's default) is left alone: only processes of the same host can reach it. So is "
            "a developer's tool in the binary: a server in a function that opens a browser, "
            "that a comment or its CLI subcommand's description calls development-only, or "
            "that is only reached under a `--dev`-style flag."
        ),
        why=(
            "Without a read timeout a client that sends its headers slowly, or never, "
            "keeps a connection, a goroutine and its buffers alive indefinitely. Enough "
            "of them (a slowloris, a misbehaving proxy, a network blip) grow memory until "
            "the container's limit is hit and the process is OOM-killed."
        ),
        example='```go\nsrv := &http.Server{Addr: ":8080", Handler: mux}\n```',
        fix=(
            "Set `ReadHeaderTimeout` (and `ReadTimeout`, `WriteTimeout`, `IdleTimeout` as "
            "the handlers allow) on an `http.Server` instead of the package-level helpers."
        ),
        references=(
            "https://pkg.go.dev/net/http#Server",
            "https://github.com/securego/gosec#available-rules (G112, G114)",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package server\n\nimport "net/http"\n\n'
            "func New(h http.Handler) *http.Server {\n"
            '\treturn &http.Server{Addr: ":8080", Handler: h}\n}\n',
            "server.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package server\n\nimport (\n\t"net/http"\n\t"time"\n)\n\n'
            "func New(h http.Handler) *http.Server {\n"
            '\treturn &http.Server{Addr: ":8080", Handler: h, '
            "ReadHeaderTimeout: 5 * time.Second}\n}\n",
            "server.go",
        ),
    ),
    family="go",
)
