"""KP114 http-client-without-timeout: outbound HTTP calls that can wait forever."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.facts import PackageFacts
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.servers import HTTP, literal_field
from killproof.sources.golang.syntax import outermost_function, text, walk
from killproof.sources.golang.values import assignments_in

_DEFAULT_CALLS = ("Get", "Post", "Head", "PostForm")


def _timeout_set_later(pkg: GoPackage, lit: ts.Node) -> bool:
    scope = outermost_function(lit)
    roots = [scope] if scope is not None else [f.tree.root_node for f in pkg.files]
    for root in roots:
        for n in walk(root, into_funcs=True):
            if n.type != "assignment_statement":
                continue
            for target, _ in assignments_in(n):
                if (
                    target.type == "selector_expression"
                    and text(target.child_by_field_name("field")) == "Timeout"
                ):
                    return True
    return False


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    for f, lit in pkg.captured("lit"):
        if f.qualified(lit.child_by_field_name("type")) != (HTTP, "Client"):
            continue
        if literal_field(lit, "Timeout") is not None or _timeout_set_later(pkg, lit):
            continue
        yield RULE.finding(
            "http.Client without Timeout: a slow or silent upstream holds the calling "
            "goroutine, its request and its buffers forever",
            f.location(lit),
            [f.evidence(lit)],
        )
    if not facts.serves:
        return
    for f, call in pkg.package_calls(HTTP, *_DEFAULT_CALLS):
        yield RULE.finding(
            f"http.{text(call.child_by_field_name('function')).split('.')[-1]} uses "
            "http.DefaultClient, which has no timeout: in server code a stuck upstream "
            "piles up one goroutine per request",
            f.location(call),
            [f.evidence(call)],
        )
    for f, sel in pkg.captured("dsm"):
        if f.qualified(sel) == (HTTP, "DefaultClient"):
            yield RULE.finding(
                "http.DefaultClient has no timeout: in server code a stuck upstream piles "
                "up one goroutine per request",
                f.location(sel),
                [f.evidence(sel)],
            )


RULE: Rule[PackageFacts] = Rule(
    id="KP114",
    name="http-client-without-timeout",
    severity=Severity.WARNING,
    summary="http.Client{} without Timeout; http.Get/Post/DefaultClient in server code.",
    docs=RuleDocs(
        what=(
            "`http.Client{…}` literals without `Timeout` (and no later `c.Timeout = …`), "
            "and, in packages that serve requests, calls of `http.Get`, `http.Post`, "
            "`http.Head`, `http.PostForm` and uses of `http.DefaultClient`."
        ),
        why=(
            "Go's default client waits forever for a response. When an upstream hangs, "
            "every request that calls it parks a goroutine with its request, response "
            "buffers and connection; traffic keeps arriving, the count keeps growing, "
            "and the process is OOM-killed or fails its liveness probe and is restarted."
        ),
        example="```go\nresp, err := http.Get(inventoryURL + id)\n```",
        fix=(
            "Use one shared `&http.Client{Timeout: 5 * time.Second}` (or per-request "
            "contexts with deadlines via `http.NewRequestWithContext`)."
        ),
        references=(
            "https://pkg.go.dev/net/http#Client",
            "https://blog.cloudflare.com/the-complete-guide-to-golang-net-http-timeouts/",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package upstream\n\nimport "net/http"\n\n'
            "var client = &http.Client{Transport: http.DefaultTransport}\n\n"
            "func Fetch(url string) (*http.Response, error) {\n\treturn client.Get(url)\n}\n",
            "upstream.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package upstream\n\nimport (\n\t"net/http"\n\t"time"\n)\n\n'
            "var client = &http.Client{Timeout: 5 * time.Second}\n\n"
            "func Fetch(url string) (*http.Response, error) {\n\treturn client.Get(url)\n}\n",
            "upstream.go",
        ),
    ),
    family="go",
)
