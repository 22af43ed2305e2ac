"""KP115 unbounded-body-read: reading a whole request body with no size limit."""

from __future__ import annotations

from collections.abc import Iterator

import tree_sitter as ts

from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.facts import PackageFacts
from killproof.sources.golang.package import GoFile
from killproof.sources.golang.servers import HTTP
from killproof.sources.golang.syntax import FUNC_TYPES, call_args, first_named, text, unparen, walk

_READERS = {("io", "ReadAll"), ("io/ioutil", "ReadAll"), ("encoding/json", "NewDecoder")}


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


def _is_request_body(f: GoFile, expr: ts.Node) -> bool:
    """``r.Body`` for a ``*http.Request`` parameter r, gin's ``c.Request.Body``, echo's
    ``c.Request().Body``."""
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
                return True
            cur = cur.parent
        return False
    t = text(operand)
    return t.endswith(".Request") or t.endswith(".Request()")


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
        if len(args) != 1 or not _is_request_body(f, args[0]):
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
            "`io.ReadAll`, `ioutil.ReadAll` and `json.NewDecoder` applied directly to a "
            "request body (`r.Body` of a `*http.Request` parameter, gin's "
            "`c.Request.Body`, echo's `c.Request().Body`) when the body was not wrapped "
            "in `http.MaxBytesReader` or `io.LimitReader` first and the package has no "
            "MaxBytesReader middleware."
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
