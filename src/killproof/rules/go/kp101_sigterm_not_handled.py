"""KP101 sigterm-not-handled: a serving program that never subscribes to SIGTERM."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.go import ProgramFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs


def _check(program: ProgramFacts) -> Iterator[Finding]:
    # A program whose servers only answer scrapes, profiles and health checks loses
    # nothing when SIGTERM's default action ends it.
    sites = [s for s in program.sites("serve_sites") if not program.is_side(s)]
    if not sites or program.handles_sigterm:
        return
    own = [s for s in sites if s.location.path.startswith(_prefix(program.main.dir))]
    site = (own or sites)[0]  # packages come nearest the main first
    yield RULE.finding(
        "this program serves but never subscribes to SIGTERM: Kubernetes, systemd and "
        "docker stop it with SIGTERM, so in-flight requests are cut off",
        site.location,
        [site.evidence],
    )


def _prefix(d: str) -> str:
    return "" if d == "." else d + "/"


RULE: Rule[ProgramFacts] = Rule(
    id="KP101",
    name="sigterm-not-handled",
    severity=Severity.ERROR,
    summary="A main package that serves and never subscribes to SIGTERM.",
    docs=RuleDocs(
        what=(
            "A `main` package (with the local packages it imports) that starts a server "
            "(`http.ListenAndServe`, `srv.ListenAndServe`, `grpcServer.Serve`, echo "
            "`Start`, gin `Run`, fiber `Listen`, exporter-toolkit `web.ListenAndServe`/"
            "`web.Serve`) and never subscribes to SIGTERM: no `signal.Notify` or "
            "`signal.NotifyContext` with SIGTERM (or with no signal list, which means "
            "every signal) in any of its packages, and no well-known helper that does it "
            "for the program (oklog/run `SignalHandler`, controller-runtime, apiserver and "
            "knative `SetupSignalHandler`/`NewContext`, caddy's `TrapSignals`, go-svc's "
            "`svc.Run(prg, …)`, ory/graceful's `Graceful(start, shutdown)`, the `Run` of an "
            "fx or kratos app). A program whose servers only answer scrapes, profiles and "
            "health checks (see KP102) is left alone: nothing is lost when SIGTERM's "
            "default action ends it."
        ),
        why=(
            "Every orchestrator stops a process with SIGTERM first: Kubernetes at pod "
            "deletion, `docker stop`, systemd's `KillSignal`. Go's default action for "
            "SIGTERM is to exit at once, so open connections are reset and requests in "
            "flight fail; when the process ignores it instead, it is SIGKILLed after the "
            "grace period and shows up as `signal: killed`."
        ),
        example=(
            '```go\nfunc main() {\n\thttp.HandleFunc("/", home)\n'
            '\tlog.Fatal(http.ListenAndServe(":8080", nil))\n}\n```'
        ),
        fix=(
            "Subscribe to SIGTERM with `signal.NotifyContext(ctx, syscall.SIGTERM, "
            "os.Interrupt)` and call `srv.Shutdown` with a deadline when it fires."
        ),
        references=(
            "https://pkg.go.dev/os/signal#NotifyContext",
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "go",
            'package main\n\nimport (\n\t"log"\n\t"net/http"\n)\n\nfunc main() {\n'
            '\tsrv := &http.Server{Addr: ":8080", ReadHeaderTimeout: 5e9}\n'
            "\tlog.Print(srv.ListenAndServe())\n}\n",
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
            "\tgo func() {\n\t\t<-ctx.Done()\n"
            "\t\tsctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)\n"
            "\t\tdefer cancel()\n\t\t_ = srv.Shutdown(sctx)\n\t}()\n"
            "\tif err := srv.ListenAndServe(); err != http.ErrServerClosed {\n"
            "\t\tlog.Print(err)\n\t}\n}\n",
            "main.go",
        ),
    ),
    family="go",
)
