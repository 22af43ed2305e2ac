"""Shared fixtures: paths to the shared data, and Go binaries built once per session."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from killproof import gotool

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def is_root() -> bool:
    """True when running as root (needed to create memory cgroups)."""
    return os.geteuid() == 0


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real kernel OOM output); skips when the checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def go_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """Build a Go main package directory into a binary (cached per directory per session)."""
    cache = tmp_path_factory.mktemp("go")
    built: dict[Path, Path] = {}

    def _build(package_dir: Path) -> Path:
        package_dir = package_dir.resolve()
        if package_dir not in built:
            out = cache / "bin" / f"{package_dir.name}-{len(built)}"
            built[package_dir] = gotool.build(package_dir, out, cache_dir=REPO / ".cache")
        return built[package_dir]

    return _build
