"""KP113 db-pool-unbounded: a database/sql pool opened without SetMaxOpenConns."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.go import ProgramFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs


def _check(program: ProgramFacts) -> Iterator[Finding]:
    if any(p.sets_max_open_conns for p in program.packages):
        return
    for site in program.sites("sql_open_sites"):
        yield RULE.finding(
            "this database pool has no SetMaxOpenConns anywhere in the program: under load "
            "it opens a connection per concurrent query",
            site.location,
            [site.evidence],
        )


RULE: Rule[ProgramFacts] = Rule(
    id="KP113",
    name="db-pool-unbounded",
    # info: on 33 public projects (docs/precision.md) no finding was judged a defect.
    severity=Severity.INFO,
    summary="sql.Open (database/sql, sqlx, pgx stdlib) without SetMaxOpenConns in the program.",
    docs=RuleDocs(
        what=(
            "`sql.Open`/`sql.OpenDB`, `sqlx.Open`/`Connect` and pgx's `stdlib.OpenDB` in a "
            "program (the main package and the local packages it imports) that never "
            "calls `SetMaxOpenConns`. Not reported: a pool opened and closed within one "
            "call of a helper (bound to a local, `db.Close()` in the same function, never "
            "returned, stored or handed to a goroutine; not in `main`/`init`), which holds "
            "only the connections that call uses at once, and a pool on an SQLite file "
            "(driver name `sqlite`/`sqlite3`), which has no database server to exhaust.\n\n"
            "Severity **info**: measured on 33 public Go projects (docs/precision.md), none "
            "of its findings was a defect a reviewer would fix (the false ones were pools "
            "opened per call; the rest pools on SQLite files). A rule that cannot show 80 % "
            "of its findings true is reported as info (issue 11)."
        ),
        why=(
            "database/sql's default is an unlimited number of open connections. A traffic "
            "spike or a slow database makes every waiting request hold a connection and "
            "its buffers; memory grows with concurrency until the OOM killer ends it, and "
            "the database runs out of connections for every replica at once."
        ),
        example='```go\ndb, err := sql.Open("postgres", dsn)\n```',
        fix=(
            "Call `db.SetMaxOpenConns(n)` (and `SetMaxIdleConns`, `SetConnMaxLifetime`) "
            "right after opening, with n × replicas below the database's limit."
        ),
        references=("https://pkg.go.dev/database/sql#DB.SetMaxOpenConns",),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"database/sql"\n\t"log"\n)\n\nfunc main() {\n'
            '\tdb, err := sql.Open("postgres", "postgres://db/orders")\n'
            "\tif err != nil {\n\t\tlog.Fatal(err)\n\t}\n\tdefer db.Close()\n}\n",
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"database/sql"\n\t"log"\n)\n\nfunc main() {\n'
            '\tdb, err := sql.Open("postgres", "postgres://db/orders")\n'
            "\tif err != nil {\n\t\tlog.Fatal(err)\n\t}\n\tdefer db.Close()\n"
            "\tdb.SetMaxOpenConns(20)\n}\n",
            "main.go",
        ),
    ),
    family="go",
)
