"""KP115 unbounded-body-read: reading a whole request body with no size limit."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.facts.go import PackageFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.package import GoFile, GoPackage
from killproof.sources.golang.servers import HTTP
from killproof.sources.golang.syntax import (
    FUNC_TYPES,
    call_args,
    call_parts,
    first_named,
    text,
    unparen,
    walk,
)
from killproof.sources.golang.values import definitions

_READERS = {("io", "ReadAll"), ("io/ioutil", "ReadAll"), ("encoding/json", "NewDecoder")}
_NEW_REQUESTS = ((HTTP, "NewRequest"), (HTTP, "NewRequestWithContext"))
_FRAMEWORKS = ("github.com/gin-gonic/gin", "github.com/labstack/echo", "github.com/gofiber/fiber")


def _request_params(f: GoFile, func: ts.Node) -> set[str]:
    """Names of ``*http.Request`` parameters of ``func``."""
    out: set[str] = set()
    params = func.child_by_field_name("parameters")
    if params is None:
        return out
    for decl in params.named_children:
        typ = decl.child_by_field_name("type")
        is_ptr = typ is not None and typ.type == "pointer_type"
        if is_ptr and f.qualified(first_named(typ)) == (HTTP, "Request"):
            out.update(text(n) for n in decl.children_by_field_name("name"))
    return out


def _is_request_body(pkg: GoPackage, f: GoFile, expr: ts.Node) -> bool:
    """``r.Body`` of an inbound ``*http.Request`` parameter r, gin's ``c.Request.Body``,
    echo's ``c.Request().Body`` (c a gin or echo context parameter)."""
    expr_u = unparen(expr)
    if expr_u is None or expr_u.type != "selector_expression":
        return False
    if text(expr_u.child_by_field_name("field")) != "Body":
        return False
    operand = unparen(expr_u.child_by_field_name("operand"))
    if operand is None:
        return False
    if operand.type == "identifier":
        cur = expr_u.parent
        while cur is not None:
            if cur.type in FUNC_TYPES and text(operand) in _request_params(f, cur):
                return not _outbound(pkg, f, cur, text(operand))
            cur = cur.parent
        return False
    if operand.type == "call_expression":
        operand = unparen(operand.child_by_field_name("function"))
    if operand is None or operand.type != "selector_expression":
        return False
    if text(operand.child_by_field_name("field")) != "Request":
        return False
    holder = unparen(operand.child_by_field_name("operand"))
    return holder is not None and _is_framework_context(f, holder)


def _is_framework_context(f: GoFile, ident: ts.Node) -> bool:
    """``c`` is a parameter typed as a gin, echo or fiber request context."""
    if ident.type != "identifier":
        return False
    name = text(ident)
    cur = ident.parent
    while cur is not None:
        if cur.type in FUNC_TYPES:
            params = cur.child_by_field_name("parameters")
            for decl in params.named_children if params is not None else ():
                if not any(text(n) == name for n in decl.children_by_field_name("name")):
                    continue
                typ = decl.child_by_field_name("type")
                if typ is not None and typ.type == "pointer_type":
                    typ = first_named(typ)
                q = f.qualified(typ)
                return q is not None and q[0].startswith(_FRAMEWORKS)
        cur = cur.parent
    return False


def _outbound(pkg: GoPackage, f: GoFile, func: ts.Node, name: str) -> bool:
    """The request ``name`` is one this program sends, not one it received: ``func`` is
    a RoundTrip or returns an ``*http.Response``, it hands the request to ``Do`` or
    ``RoundTrip``, or the package calls it with a request it built itself."""
    if func.type == "func_literal":
        return False
    if text(func.child_by_field_name("name")) == "RoundTrip":
        return True
    result = func.child_by_field_name("result")
    for typ in walk(result) if result is not None else ():
        if typ.type == "qualified_type" and f.qualified(typ) == (HTTP, "Response"):
            return True
    params = func.child_by_field_name("parameters")
    if params is not None and any(
        f.qualified(first_named(d.child_by_field_name("type"))) == (HTTP, "ResponseWriter")
        or f.qualified(d.child_by_field_name("type")) == (HTTP, "ResponseWriter")
        for d in params.named_children
    ):
        return False
    for n in walk(func, into_funcs=True):
        if n.type == "call_expression":
            parts = call_parts(n)
            args = call_args(n)
            sends = parts is not None and parts[1] in ("Do", "RoundTrip")
            if sends and args and text(unparen(args[0])) == name:
                return True
    fname = text(func.child_by_field_name("name"))
    for g, call in pkg.calls_named(fname):
        for arg in call_args(call):
            if _built_request(pkg, g, arg):
                return True
    return False


def _built_request(pkg: GoPackage, f: GoFile, expr: ts.Node) -> bool:
    """``expr`` holds a request made by ``http.NewRequest``/``NewRequestWithContext``."""
    expr_u = unparen(expr)
    if expr_u is None or expr_u.type != "identifier":
        return False
    for d in definitions(pkg, expr_u):
        value = unparen(d.value)
        if value is None or value.type != "call_expression":
            continue
        if pkg.file_of(value).call_target(value) in _NEW_REQUESTS:
            return True
    return False


def _limited(facts: PackageFacts) -> bool:
    """MaxBytesReader/MaxBytesHandler anywhere: a middleware may limit every body."""
    return any(True for _ in facts.pkg.package_calls(HTTP, "MaxBytesReader", "MaxBytesHandler"))


def _check(facts: PackageFacts) -> Iterator[Finding]:
    pkg = facts.pkg
    if not pkg.imports_path(HTTP) or _limited(facts):
        return
    for f, call in pkg.selector_calls("ReadAll", "NewDecoder"):
        target = f.call_target(call)
        if target not in _READERS:
            continue
        args = call_args(call)
        if len(args) != 1 or not _is_request_body(pkg, f, args[0]):
            continue
        body = text(args[0])
        if _limited_in_function(f, call, body):
            continue
        yield RULE.finding(
            f"{target[1]} reads all of `{body}` into memory with no size limit: one large "
            "or endless upload is enough to exhaust the container's memory",
            f.location(call),
            [f.evidence(call)],
        )


def _limited_in_function(f: GoFile, call: ts.Node, body: str) -> bool:
    cur = call.parent
    while cur is not None and cur.type not in FUNC_TYPES:
        cur = cur.parent
    if cur is None:
        return False
    for n in walk(cur, into_funcs=True):
        if n.start_byte >= call.start_byte:
            break
        if (
            n.type == "call_expression"
            and f.call_target(n)
            in (
                (HTTP, "MaxBytesReader"),
                ("io", "LimitReader"),
            )
            and body in text(n)
        ):
            return True
    return False


RULE: Rule[PackageFacts] = Rule(
    id="KP115",
    name="unbounded-body-read",
    severity=Severity.WARNING,
    summary="io.ReadAll/json.NewDecoder on r.Body without http.MaxBytesReader/io.LimitReader.",
    docs=RuleDocs(
        what=(
            "`io.ReadAll`, `ioutil.ReadAll` and `json.NewDecoder` applied directly to the "
            "body of a request the program received (`r.Body` of a `*http.Request` "
            "parameter, gin's `c.Request.Body`, echo's `c.Request().Body`) when the body "
            "was not wrapped in `http.MaxBytesReader` or `io.LimitReader` first and the "
            "package has no MaxBytesReader middleware. Requests the program sends are "
            "left alone: inside a `RoundTrip`, a function that returns an "
            "`*http.Response` or hands the request to `Do`, or one the package calls with "
            "a request it built; so are response bodies."
        ),
        why=(
            "The client decides how big the body is. `io.ReadAll` keeps doubling its "
            "buffer until the whole body is in memory, and a JSON decoder buffers each "
            "value whole: a few concurrent large uploads, or one endless one, push the "
            "process past its memory limit and the kernel OOM-kills it."
        ),
        example="```go\nbody, err := io.ReadAll(r.Body)\n```",
        fix="`r.Body = http.MaxBytesReader(w, r.Body, 1<<20)` before reading.",
        references=("https://pkg.go.dev/net/http#MaxBytesReader",),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package api\n\nimport (\n\t"io"\n\t"net/http"\n)\n\n'
            "func upload(w http.ResponseWriter, r *http.Request) {\n"
            "\tdata, err := io.ReadAll(r.Body)\n\tif err != nil {\n\t\treturn\n\t}\n"
            "\t_, _ = w.Write(data)\n}\n",
            "api.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package api\n\nimport (\n\t"io"\n\t"net/http"\n)\n\n'
            "func upload(w http.ResponseWriter, r *http.Request) {\n"
            "\tdata, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))\n"
            "\tif err != nil {\n\t\treturn\n\t}\n\t_, _ = w.Write(data)\n}\n",
            "api.go",
        ),
    ),
    family="go",
)
