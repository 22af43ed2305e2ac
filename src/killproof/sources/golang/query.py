"""The one tree-sitter query run over every file: it picks, in C, the few nodes the rules
look at, so Python never visits every node of a 3-million-line tree."""

from __future__ import annotations

from functools import cache

import tree_sitter as ts

from killproof.sources.golang.parse import go_language

SELECTOR_CALLS = (  # noqa: SIM905 (one word per name reads better as prose)
    # serving and stopping
    "ListenAndServe ListenAndServeTLS Serve ServeTLS Start StartTLS Run RunTLS "
    "Shutdown GracefulStop "
    # signals and exits
    "Notify NotifyContext Exit Fatal Fatalf Fatalln Panic Panicf Panicln "
    # routing
    "HandleFunc Handle Get Post Put Delete Patch Head Options Method Route Mount "
    "GET POST PUT DELETE PATCH HEAD OPTIONS Any "
    # database pools, GC, contexts, timers, bodies, clients, bounds
    "Open OpenDB Connect MustConnect MustOpen SetMaxOpenConns "
    "SetGCPercent SetMemoryLimit GOMAXPROCS "
    "WithCancel WithTimeout WithDeadline WithCancelCause WithTimeoutCause WithDeadlineCause "
    "After NewTicker ReadAll NewDecoder MaxBytesReader MaxBytesHandler "
    "PostForm SetLimit Acquire TryAcquire NewWeighted Sleep"
).split()

_QUERY = """
(call_expression
  function: (selector_expression field: (field_identifier) @sel.name
    (#any-of? @sel.name {names}))) @call.sel
(call_expression function: (identifier) @id.name
  (#any-of? @id.name "delete" "clear" "len" "panic")) @call.id
(go_statement) @go
(composite_literal type: (qualified_type name: (type_identifier) @lit.name
  (#any-of? @lit.name "Server" "Client"))) @lit
(assignment_statement left: (expression_list (index_expression))) @idxassign
(assignment_statement left: (expression_list (selector_expression))) @fieldassign
(parameter_declaration
  type: [(qualified_type) (pointer_type (qualified_type))] @param.type) @param
(selector_expression operand: (identifier) @dsm.pkg
  field: (field_identifier) @dsm.name
  (#any-of? @dsm.name "DefaultClient" "DefaultServeMux")) @dsm
"""


@cache
def file_query() -> ts.Query:
    """The compiled query (one per process)."""
    names = " ".join(f'"{n}"' for n in SELECTOR_CALLS)
    return ts.Query(go_language(), _QUERY.replace("{names}", names))


def run(root: ts.Node) -> dict[str, list[ts.Node]]:
    """The captures of :func:`file_query` over ``root``, by capture name."""
    return ts.QueryCursor(file_query()).captures(root)
