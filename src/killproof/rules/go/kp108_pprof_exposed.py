"""KP108 pprof-exposed: net/http/pprof or expvar on the DefaultServeMux, served publicly."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.model import Evidence, Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.facts import PackageFacts
from killproof.sources.golang.package import GoPackage
from killproof.sources.golang.servers import HTTP, ServerStart, resolve_address
from killproof.sources.golang.syntax import text, unparen

_DEBUG_PACKAGES = ("net/http/pprof", "expvar")


def _uses_default_mux(pkg: GoPackage, start: ServerStart) -> bool:
    if not start.handler_known:
        return False
    handler = unparen(start.handler)
    if handler is None or handler.type == "nil":
        return True
    return pkg.file_of(handler).qualified(handler) == (HTTP, "DefaultServeMux")


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    imports = [(f, i) for f in pkg.files for i in f.imports if i.path in _DEBUG_PACKAGES]
    if not imports:
        return
    for start in facts.starts:
        if not _uses_default_mux(pkg, start):
            continue
        addr = resolve_address(pkg, start.addr)
        if not addr.public:
            continue
        f = start.file
        imp_file, imp = imports[0]
        yield RULE.finding(
            f"{imp.path} registers its handlers on the DefaultServeMux, and this server "
            f"serves that mux on every interface ({text(start.addr)}): anyone who can reach "
            "the port can pull heap profiles and 30-second CPU profiles",
            f.location(start.call),
            [
                f.evidence(start.call),
                Evidence(imp_file.line_text(imp.line), imp_file.path, imp.line),
            ],
        )


RULE: Rule[PackageFacts] = Rule(
    id="KP108",
    name="pprof-exposed",
    severity=Severity.ERROR,
    summary="net/http/pprof (or expvar) on the DefaultServeMux served on a public address.",
    docs=RuleDocs(
        what=(
            "A package that imports `net/http/pprof` or `expvar` (they register on "
            "`http.DefaultServeMux`) and serves the DefaultServeMux (`nil` handler or "
            "`http.DefaultServeMux`) on an address that is not loopback (`:8080`, "
            '`0.0.0.0:6060`, `":" + port`).'
        ),
        why=(
            "Profiling endpoints on the public port let any client start CPU profiles and "
            "dump the heap: each call costs CPU and memory in the serving process, and "
            "`/debug/pprof/heap?debug=1` on a large heap can itself push a tight "
            "container over its limit. It also leaks internals."
        ),
        example='```go\nimport _ "net/http/pprof"\n…\nhttp.ListenAndServe(":8080", nil)\n```',
        fix=(
            "Serve your handlers on their own `http.NewServeMux()`, and pprof on a "
            "loopback-only listener (`127.0.0.1:6060`) or behind authentication."
        ),
        references=(
            "https://pkg.go.dev/net/http/pprof",
            "https://github.com/securego/gosec#available-rules (G108)",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"net/http"\n\t_ "net/http/pprof"\n)\n\n'
            "func serve() error {\n"
            '\treturn http.ListenAndServe(":8080", nil)\n}\n',
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"net/http"\n\t_ "net/http/pprof"\n)\n\n'
            "func serve() error {\n"
            '\treturn http.ListenAndServe("127.0.0.1:6060", nil)\n}\n',
            "main.go",
        ),
    ),
    family="go",
)
