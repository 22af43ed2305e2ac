"""The one tree-sitter query run over every file: it picks, in C, the few nodes the rules
look at, so Python never visits every node of a 3-million-line tree."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

import tree_sitter as ts

from killproof.sources.golang.parse import go_language

SELECTOR_CALLS = (  # noqa: SIM905 (one word per name reads better as prose)
    # serving and stopping
    "Listen ListenAndServe ListenAndServeTLS Serve ServeTLS Start StartTLS Run RunTLS "
    "Shutdown ShutdownWithTimeout ShutdownWithContext GracefulStop "
    # signals (os/signal and helpers that call it) and exits
    "Notify NotifyContext SignalHandler SetupSignalHandler SetupSignalContext NewContext "
    "TrapSignals Graceful "
    "Exit Fatal Fatalf Fatalln Panic Panicf Panicln "
    # routing
    "HandleFunc Handle Get Post Put Delete Patch Head Options Method Route Mount "
    "GET POST PUT DELETE PATCH HEAD OPTIONS Any "
    # database pools, GC, contexts, timers, bodies, clients, bounds
    "Open OpenDB Connect MustConnect MustOpen SetMaxOpenConns "
    "SetGCPercent SetMemoryLimit GOMAXPROCS "
    "WithCancel WithTimeout WithDeadline WithCancelCause WithTimeoutCause WithDeadlineCause "
    "After NewTicker ReadAll NewDecoder MaxBytesReader MaxBytesHandler "
    "PostForm SetLimit Acquire TryAcquire NewWeighted Sleep "
    # sync.Map used as a cache
    "Store LoadOrStore Swap LoadAndDelete CompareAndDelete Clear"
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


SERVING_IMPORTS = (
    "net/http",
    "os/signal",
    "google.golang.org/grpc",
    "github.com/gin-gonic/gin",
    "github.com/labstack/echo",
    "github.com/gofiber/fiber",
    "github.com/go-chi/chi",
    "github.com/gorilla/mux",
)
"""Imports that make every file of a package worth querying: a server or handler may be
declared in one file and used in another."""

_SERVING_PREFIXES = tuple(p + "/" for p in SERVING_IMPORTS)

RULE_IMPORTS = frozenset(
    {
        "context",
        "time",
        "database/sql",
        "github.com/jmoiron/sqlx",
        "github.com/jackc/pgx/v5/stdlib",
        "github.com/jackc/pgx/v4/stdlib",
        "runtime/debug",
        "io",
        "io/ioutil",
        "encoding/json",
        "expvar",
        # helpers that subscribe to SIGTERM for the program (signals.SIGNAL_HELPERS)
        "github.com/oklog/run",
        "sigs.k8s.io/controller-runtime",
        "sigs.k8s.io/controller-runtime/pkg/manager/signals",
        "k8s.io/apiserver/pkg/server",
        "knative.dev/pkg/signals",
        "github.com/coredns/caddy",
        "github.com/caddyserver/caddy",
        "github.com/judwhite/go-svc",
        "github.com/judwhite/go-svc/svc",
        "github.com/ory/graceful",
    }
)
"""Imports one of the file-local rules (KP112, KP113, KP115, KP116, KP117) or the signal
helpers look for."""

# Only a cheap filter for files that may hold a `go` statement; the statements themselves
# are found by the query. Matches in comments just cost a query.
_MAYBE_GO_STATEMENT = re.compile(rb"\bgo\s+(?:func\b|[A-Za-z_(])")


def is_serving_import(path: str) -> bool:
    """True for the packages in :data:`SERVING_IMPORTS` (and their subpackages)."""
    return path in SERVING_IMPORTS or path.startswith(_SERVING_PREFIXES)


def needs_query(source: bytes, imports: Iterable[str], package_serves: bool) -> bool:
    """False when no rule can find anything in this file: no serving package around, no
    import a rule looks for, and no ``go`` statement."""
    if package_serves:
        return True
    if any(i in RULE_IMPORTS for i in imports):
        return True
    return _MAYBE_GO_STATEMENT.search(source) is not None
