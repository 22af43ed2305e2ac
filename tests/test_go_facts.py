"""Package and program facts the deploy side reads: routes on every router, listen
addresses, signals, shutdown timeouts, memory-limit and GOMAXPROCS settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killproof.check.go import check_go
from killproof.facts.go_program import GoProgram
from killproof.sources.golang.imports import file_imports
from killproof.sources.golang.package import GoPackage, build_file
from killproof.sources.golang.parse import parse
from killproof.sources.golang.servers import resolve_address
from killproof.sources.golang.syntax import walk

ROUTERS = """package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"
	"github.com/labstack/echo/v4"
	_ "go.uber.org/automaxprocs"
)

func h(w http.ResponseWriter, r *http.Request) {}

func main() {
	debug.SetMemoryLimit(400 << 20)
	std := http.NewServeMux()
	std.HandleFunc("GET /orders/{id}", h)
	std.Handle("/healthz", http.HandlerFunc(h))
	c := chi.NewRouter()
	c.Get("/chi/items", h)
	m := mux.NewRouter()
	m.HandleFunc("/mux/users/{id}", h).Methods("GET")
	g := gin.New()
	g.POST("/gin/login", func(c *gin.Context) {})
	e := echo.New()
	e.PUT("/echo/profile", func(c echo.Context) error { return nil })

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), Handler: std, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.ListenAndServe() }()
	<-ctx.Done()
	time.Sleep(5 * time.Second)
	sctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}
"""


def program_of(tmp: Path, source: str) -> GoProgram:
    (tmp / "go.mod").write_text("module example.com/svc/v2\n\ngo 1.24\n")
    (tmp / "main.go").write_text(source)
    result = check_go(tmp, [tmp / "main.go"], jobs=1)
    assert not result.skipped
    (program,) = result.programs
    return program


def test_routes_signals_timeouts_and_runtime_settings(tmp_path: Path) -> None:
    p = program_of(tmp_path, ROUTERS)
    assert p.handler_paths == {
        "/orders/{id}",
        "/healthz",
        "/chi/items",
        "/mux/users/{id}",
        "/gin/login",
        "/echo/profile",
    }
    assert p.handled_signals == {"SIGTERM", "SIGINT"}
    assert p.listen_port_envs == {"PORT"}
    assert p.shutdown_timeout_s == 25.0
    assert p.extra_drain_s == 5.0
    assert p.sets_memory_limit
    assert p.sets_gomaxprocs
    assert p.go_version == "1.24"
    assert p.binary_name == "svc"
    assert p.location.path == "main.go"


def _address_of(expr: str, prelude: str = "") -> tuple[int | None, str | None, bool, bool]:
    src = f'package p\n\nimport "os"\n\nvar _ = os.Args\n\nfunc f() {{\n{prelude}\n\taddr := {expr}\n\t_ = addr\n}}\n'
    tree = parse(src.encode())
    f = build_file("p.go", src.encode(), tree)
    pkg = GoPackage(".", "p", [f])
    ident = [n for n in walk(tree.root_node, into_funcs=True) if n.type == "identifier"][-1]
    a = resolve_address(pkg, ident)
    return a.port, a.port_env, a.loopback, a.public


@given(st.integers(1, 65535))
def test_literal_addresses(port: int) -> None:
    assert _address_of(f'":{port}"') == (port, None, False, True)
    assert _address_of(f'"0.0.0.0:{port}"') == (port, None, False, True)
    assert _address_of(f'"127.0.0.1:{port}"') == (port, None, True, False)
    assert _address_of(f'"localhost:{port}"') == (port, None, True, False)


@given(st.from_regex(r"[A-Z][A-Z_]{0,10}", fullmatch=True), st.integers(1, 65535))
def test_env_port_with_fallback(env: str, port: int) -> None:
    prelude = f'\tport := os.Getenv("{env}")\n\tif port == "" {{\n\t\tport = "{port}"\n\t}}'
    assert _address_of('":" + port', prelude) == (port, env, False, True)
    assert _address_of(f'os.Getenv("HOST") + ":" + os.Getenv("{env}")') == (
        None,
        env,
        False,
        True,
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "_", ".", "sig", "h2"]),
            st.sampled_from(
                ["os/signal", "net/http", "github.com/go-chi/chi/v5", "gopkg.in/yaml.v3"]
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_import_specs_round_trip(specs: list[tuple[str, str]]) -> None:
    lines = "\n".join(f'\t{alias} "{path}"'.replace('\t "', '\t"') for alias, path in specs)
    tree = parse(f"package p\n\nimport (\n{lines}\n)\n".encode())
    got = file_imports(tree.root_node)
    defaults = {"os/signal": "signal", "net/http": "http", "github.com/go-chi/chi/v5": "chi",
                "gopkg.in/yaml.v3": "yaml"}  # fmt: skip
    assert [(i.path, i.name) for i in got] == [(p, a or defaults[p]) for a, p in specs]
    assert [i.line for i in got] == [4 + n for n in range(len(specs))]


FIBER = """package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
)

func main() {
	app := fiber.New()
	quit := make(chan os.Signal, 1)
	signal.Notify(quit, syscall.SIGTERM)
	go func() {
		<-quit
		_ = app.ShutdownWithTimeout(12 * time.Second)
	}()
	_ = app.Listen(":3000")
}
"""

HELPERS = {
    "oklog": (
        '"context"\n\t"syscall"\n\n\t"github.com/oklog/run"',
        "var g run.Group\n\tg.Add(run.SignalHandler(context.Background(), syscall.SIGTERM))",
        {"SIGTERM"},
    ),
    "controller-runtime": (
        'ctrl "sigs.k8s.io/controller-runtime"',
        "ctx := ctrl.SetupSignalHandler()\n\t<-ctx.Done()",
        {"SIGTERM", "SIGINT"},
    ),
    "knative": (
        '"knative.dev/pkg/signals"',
        "ctx := signals.NewContext()\n\t<-ctx.Done()",
        {"SIGTERM", "SIGINT"},
    ),
    "fx": ('"go.uber.org/fx"', "fx.New().Run()", {"SIGTERM", "SIGINT"}),
    "kratos": (
        '"github.com/go-kratos/kratos/v2"',
        "app := kratos.New()\n\t_ = app.Run()",
        {"SIGTERM", "SIGINT"},
    ),
}


def test_fiber_listen_serves_and_its_timed_shutdown_is_read(tmp_path: Path) -> None:
    p = program_of(tmp_path, FIBER)
    assert p.serves_http
    assert p.listen_ports == {3000}
    assert p.shutdown_timeout_s == 12.0
    assert p.handled_signals == {"SIGTERM"}


@pytest.mark.parametrize("helper", sorted(HELPERS))
def test_signal_helpers_and_lifecycles_count_as_handling_sigterm(
    tmp_path: Path, helper: str
) -> None:
    imports, body, signals = HELPERS[helper]
    source = (
        f'package main\n\nimport (\n\t"net/http"\n\t{imports}\n)\n\n'
        f'func main() {{\n\t{body}\n\t_ = http.ListenAndServe(":8080", nil)\n}}\n'
    )
    p = program_of(tmp_path, source)
    assert p.handled_signals == signals
