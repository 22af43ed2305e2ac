"""KP114 in library packages only command-line code imports (the project's API client
behind its CLI) is left out; the same library imported by the server, or only by a
``main`` (a controller's entry point), is still judged."""

from __future__ import annotations

from pathlib import Path

from killproof.check.go import check_go

MOD = "module example.com/app\n\ngo 1.22\n"
CLIENT = """package client

import "net/http"

func Publish(url string) error {
	req, err := http.NewRequest("POST", url, nil)
	if err != nil {
		return err
	}
	c := &http.Client{}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
"""
SERVER = """package server

import (
	"net/http"
	"time"
%s)

func Run() error {
%s	srv := &http.Server{Addr: ":80", ReadHeaderTimeout: time.Second}
	return srv.ListenAndServe()
}
"""
CMD = """package cmd

import (
%s)

func Publish(url string) error { return client.Publish(url) }

func Serve() error { return server.Run() }
"""
MAIN = """package main

import (
	"log"
%s)

func main() {
	log.Fatal(%s)
}
"""
CLIENT_LINE = 10
"""The line of the client literal in CLIENT."""


def _write(root: Path, files: dict[str, str]) -> list[Path]:
    out = []
    for rel, body in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body)
        if p.suffix == ".go":
            out.append(p)
    return out


def _kp114(root: Path, files: dict[str, str]) -> set[tuple[str, int]]:
    paths = _write(root, {"go.mod": MOD, "client/client.go": CLIENT, **files})
    result = check_go(root, paths, jobs=1)
    return {(f.location.path, f.location.line) for f in result.findings if f.rule == "KP114"}


CMD_IMPORTS = '\t"example.com/app/client"\n\t"example.com/app/server"\n'
MAIN_CMD = MAIN % ('\t"example.com/app/cmd"\n', "cmd.Serve()")


def test_client_only_the_cli_package_imports_is_left_out(tmp_path: Path) -> None:
    files = {
        "cmd/cmd.go": CMD % CMD_IMPORTS,
        "server/server.go": SERVER % ("", ""),
        "main.go": MAIN_CMD,
    }
    assert _kp114(tmp_path, files) == set()


def test_client_under_a_cli_directory_importer_is_left_out(tmp_path: Path) -> None:
    files = {
        "cli/publish/publish.go": 'package publish\n\nimport "example.com/app/client"\n\n'
        "func Run(u string) error { return client.Publish(u) }\n",
        "main.go": MAIN % ('\t"example.com/app/cli/publish"\n', 'publish.Run("http://x")'),
    }
    assert _kp114(tmp_path, files) == set()


def test_client_the_server_imports_too_is_judged(tmp_path: Path) -> None:
    files = {
        "cmd/cmd.go": CMD % CMD_IMPORTS,
        "server/server.go": SERVER
        % ('\t"example.com/app/client"\n', '\t_ = client.Publish("http://up")\n'),
        "main.go": MAIN_CMD,
    }
    assert _kp114(tmp_path, files) == {("client/client.go", CLIENT_LINE)}


def test_client_only_a_main_imports_is_judged(tmp_path: Path) -> None:
    files = {
        "server/server.go": SERVER % ("", ""),
        "main.go": MAIN
        % (
            '\t"example.com/app/client"\n\t"example.com/app/server"\n',
            'client.Publish("u"), server.Run()',
        ),
    }
    assert _kp114(tmp_path, files) == {("client/client.go", CLIENT_LINE)}


def test_client_of_a_cli_package_that_serves_is_judged(tmp_path: Path) -> None:
    serving_cmd = (CMD % '\t"net/http"\n\t"example.com/app/client"\n').replace(
        "func Serve() error { return server.Run() }",
        'func Serve() error { return http.ListenAndServe(":80", nil) }',
    )
    files = {"cmd/cmd.go": serving_cmd, "main.go": MAIN_CMD}
    assert _kp114(tmp_path, files) == {("client/client.go", CLIENT_LINE)}
