"""KP108 reads a listen address kept as a constant in another package of the module
(issue 11: ``http.ListenAndServe(constants.DefaultHttpListenAddr, nil)`` with
net/http/pprof imported serves the profiles on every interface)."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.check.go import check_go

MAIN = """package main

import (
	"net/http"
	_ "net/http/pprof"

	"{imp}"
)

func main() {{
	http.ListenAndServe({ref}, nil)
}}
"""


def _tree(tmp: Path, files: dict[str, str]) -> list[Path]:
    out = []
    for rel, text in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.endswith(".go"):
            out.append(path)
    return out


def _kp108(tmp: Path, files: dict[str, str]) -> set[tuple[str, int]]:
    result = check_go(tmp, _tree(tmp, files), jobs=1)
    return {(f.location.path, f.location.line) for f in result.findings if f.rule == "KP108"}


GOMOD = "module example.com/app\n\ngo 1.22\n"


@pytest.mark.parametrize(
    ("files", "want"),
    [
        (  # a const block in internal/constants
            {
                "go.mod": GOMOD,
                "internal/constants/constants.go": (
                    "package constants\n\nconst (\n\t// DefaultAddr is where it listens\n"
                    '\tDefaultAddr = ":9090"\n\tOther = "x"\n)\n'
                ),
                "cmd/app/main.go": MAIN.format(
                    imp="example.com/app/internal/constants", ref="constants.DefaultAddr"
                ),
            },
            {("cmd/app/main.go", 11)},
        ),
        (  # a typed var, all interfaces spelled out
            {
                "go.mod": GOMOD,
                "config/config.go": 'package config\n\nvar ListenAddr string = "0.0.0.0:6060"\n',
                "main.go": MAIN.format(imp="example.com/app/config", ref="config.ListenAddr"),
            },
            {("main.go", 11)},
        ),
        (  # a module in a subdirectory, imported under another name
            {
                "svc/go.mod": GOMOD,
                "svc/pkg/net/addr.go": 'package net\n\nconst Listen = ":8080" // public\n',
                "svc/cmd/api/main.go": MAIN.format(
                    imp="example.com/app/pkg/net", ref="appnet.Listen"
                ).replace('\t"example', '\tappnet "example'),
            },
            {("svc/cmd/api/main.go", 11)},
        ),
        (  # loopback: nothing to report
            {
                "go.mod": GOMOD,
                "internal/constants/constants.go": (
                    'package constants\n\nconst DefaultAddr = "127.0.0.1:6060"\n'
                ),
                "main.go": MAIN.format(
                    imp="example.com/app/internal/constants", ref="constants.DefaultAddr"
                ),
            },
            set(),
        ),
        (  # another module's package is not read (its value is not in this tree)
            {
                "go.mod": GOMOD,
                "vendorlike/consts.go": 'package consts\n\nconst Addr = ":9090"\n',
                "main.go": MAIN.format(imp="github.com/other/consts", ref="consts.Addr"),
            },
            set(),
        ),
        (  # declared twice (build tags): not known
            {
                "go.mod": GOMOD,
                "addr/linux.go": 'package addr\n\nconst Listen = ":9090"\n',
                "addr/other.go": 'package addr\n\nconst Listen = "127.0.0.1:9090"\n',
                "main.go": MAIN.format(imp="example.com/app/addr", ref="addr.Listen"),
            },
            set(),
        ),
    ],
)
def test_an_address_constant_of_another_package(
    tmp_path: Path, files: dict[str, str], want: set[tuple[str, int]]
) -> None:
    assert _kp108(tmp_path, files) == want
