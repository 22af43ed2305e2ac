"""KP102 no-graceful-shutdown: a server that is started and never shut down gracefully."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.go import ProgramFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.sources.golang.servers import StartKind


def _check(program: ProgramFacts) -> Iterator[Finding]:
    shutdowns = sum(p.shutdown_calls for p in program.packages)
    for site in program.sites("serve_sites"):
        if program.drains_nothing(site):
            continue  # scrapes, profiles, health checks; hijacked WebSocket connections
        if site.detail in (StartKind.PACKAGE_LEVEL.value, StartKind.GIN_RUN.value):
            yield RULE.finding(
                "this server has no value to call Shutdown on: on SIGTERM the process "
                "exits with requests in flight",
                site.location,
                [site.evidence],
            )
        elif shutdowns == 0:
            yield RULE.finding(
                "this server is started but Shutdown/GracefulStop is never called in "
                "the program: connections are cut when it stops",
                site.location,
                [site.evidence],
            )


RULE: Rule[ProgramFacts] = Rule(
    id="KP102",
    name="no-graceful-shutdown",
    severity=Severity.ERROR,
    summary="A server that is started but never Shutdown/GracefulStopped.",
    docs=RuleDocs(
        what=(
            "Servers started with the package-level `http.ListenAndServe`/`http.Serve` or "
            "gin's `Run` (nothing to shut down), and `http.Server`, gRPC and echo servers "
            "in a program that never calls `Shutdown` or `GracefulStop` (or hands "
            "`srv.Shutdown` to a helper that calls it, as ory/graceful's "
            "`Graceful(start, srv.Shutdown)` does). A `Serve` method "
            "of a value whose type is not known here is a server only when it is given a "
            "listener (`srv.Serve(lis)`, or `m.Serve()` on a value built from one): "
            "supervised service loops `Serve(ctx)`, relay sessions and configuration "
            "providers' `Serve(\"public\")` start no server. Nor is a type's own "
            "plumbing: `s.Serve(l)` inside a method of `s`'s type (`func (s *Server) "
            "ListenAndServe() error`) when that type declares `Shutdown` or "
            "`GracefulStop` — the server is started where the program calls its "
            "`ListenAndServe`, and a `Shutdown(ctx)` called on an interface value "
            "(servers kept in a registry, each shut down on SIGTERM) counts as a call. "
            "Servers that carry only "
            "scrapes, profiles and health checks are left alone: a mux whose every route is "
            "`/metrics`, `/debug/…`, `/healthz`, `/readyz`, `/status`…, or a lifecycle hook "
            "(`/shutdown`, `/prestop`, `/quitquitquit`: a preStop `httpGet` ends before the "
            "kubelet sends SIGTERM) or an ACME HTTP-01 challenge "
            "(`/.well-known/acme-challenge/`, autocert's `m.HTTPHandler(nil)`) (or `promhttp`'s "
            "handler itself), the DefaultServeMux when the program puts only such routes on "
            "it or serves it on an address named for profiling (`ProfilerAddr`), and an "
            "exporter-toolkit server in a program that serves promhttp metrics, and a "
            "server whose routes are not known here but whose handler, address or listener "
            "is named for side traffic (`s.debug.debugMux`, `cfg.MetricsAddr`, `tlsValidator`, "
            "`pprofListener`; a handler that is a call is not read by its name); promhttp's "
            "handler on a configured path counts as `/metrics`. Nor is a "
            "server whose every route upgrades to a WebSocket (x/net/websocket's "
            "`Handler`, a handler calling `upgrader.Upgrade` or `websocket.Accept`): "
            "`Shutdown` does not track hijacked connections, so it drains nothing there. "
            "A developer's tool in the binary is not a server either: a serve call in a "
            "function that opens a browser, that a comment or its CLI subcommand's "
            "description calls development-only, or that is only reached under a "
            "`--dev`-style flag (`if *dev`, `if cfg.DevMode`)."
        ),
        why=(
            "Without a graceful shutdown, stopping the process (a deploy, a scale-down, a "
            "node drain) drops every request in flight and every idle keep-alive "
            "connection. If the process ignores the signal instead, it is killed with "
            "SIGKILL when the grace period ends."
        ),
        example='```go\nlog.Fatal(http.ListenAndServe(":8080", mux))\n```',
        fix=(
            "Start an `http.Server` and call `srv.Shutdown(ctx)` with a deadline shorter "
            "than the grace period when SIGTERM arrives (`GracefulStop` for gRPC)."
        ),
        references=(
            "https://pkg.go.dev/net/http#Server.Shutdown",
            "https://pkg.go.dev/google.golang.org/grpc#Server.GracefulStop",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"log"\n\t"net/http"\n\t"os"\n\t"os/signal"\n'
            '\t"syscall"\n)\n\nfunc main() {\n\tc := make(chan os.Signal, 1)\n'
            "\tsignal.Notify(c, syscall.SIGTERM)\n"
            "\tgo func() { <-c; os.Exit(0) }()\n"
            '\tlog.Print(http.ListenAndServe(":8080", nil))\n}\n',
            "main.go",
        ),
    ),
    good=(
        Example(
            "go",
            'package main\n\nimport (\n\t"context"\n\t"log"\n\t"net/http"\n'
            '\t"os/signal"\n\t"syscall"\n\t"time"\n)\n\nfunc main() {\n'
            "\tctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)\n"
            "\tdefer stop()\n"
            '\tsrv := &http.Server{Addr: ":8080", ReadHeaderTimeout: 5 * time.Second}\n'
            "\tgo func() {\n\t\tif err := srv.ListenAndServe(); err != http.ErrServerClosed {\n"
            "\t\t\tlog.Print(err)\n\t\t}\n\t}()\n\t<-ctx.Done()\n"
            "\tsctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)\n"
            "\tdefer cancel()\n\tif err := srv.Shutdown(sctx); err != nil {\n"
            "\t\tlog.Print(err)\n\t}\n}\n",
            "main.go",
        ),
    ),
    family="go",
)
