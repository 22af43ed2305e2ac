"""Shared fixtures: paths to the shared data, and Go binaries built once per session."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from killproof import gotool

REPO = Path(__file__).resolve().parent.parent

# Hypothesis' default 200 ms deadline per example measures the machine, not the code: on
# two busy cores it fails examples at random. Time limits are explicit budgets in the tests
# that care (the linear-time and hostile-input suites).
settings.register_profile("killproof", deadline=None)
settings.load_profile("killproof")
# The kernel captures of ../shared/data, copied in so a fresh clone needs nothing beside it.
SHARED_DATA = REPO / "tests" / "fixtures" / "shared-data"


def is_root() -> bool:
    """True when running as root (needed to create memory cgroups)."""
    return os.geteuid() == 0


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real kernel OOM output captured on this kind of machine (copied from ``../shared/data``)."""
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


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-goldens`` rewrites the golden files instead of comparing with them."""
    parser.addoption(
        "--update-goldens", action="store_true", help="rewrite tests/golden/* from this run"
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with ``tests/golden/NAME`` (or rewrite it with --update-goldens)."""
    update = bool(request.config.getoption("--update-goldens"))

    def _check(name: str, text: str) -> None:
        path = REPO / "tests" / "golden" / name
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not update:
                pytest.fail(f"golden {name} did not exist; written — review and commit it")
        assert text == path.read_text(encoding="utf-8"), f"differs from golden {name}"

    return _check


@pytest.fixture(scope="module")
def load_server_port(go_build: Callable[[Path], Path]) -> Iterator[int]:
    """Port of a running ``tests/fixtures/loadserver`` (a Go server with /ok, /slow, /status,
    /close … for load and HTTP-client tests), one per test module."""
    proc = subprocess.Popen(
        [str(go_build(REPO / "tests" / "fixtures" / "loadserver"))],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("LISTENING "), line
    yield int(line.split()[1])
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def load_server(load_server_port: int) -> str:
    """Base URL of the running load server."""
    return f"http://127.0.0.1:{load_server_port}"


# What makes a test slow here: building and running a Go service, or a child process
# under a budget (the hostile-input suites); `make test-fast` leaves these out.
SLOW_FIXTURES = frozenset({"go_build", "load_server", "load_server_port"})
SLOW_MODULES = frozenset(
    {"test_why_large", "test_why_hostile", "test_check_hostile", "test_check_linear"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tests (``-m "not slow"`` is the fast loop; ``make test`` runs all)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or item.module.__name__ in SLOW_MODULES:  # type: ignore[attr-defined]
            item.add_marker(pytest.mark.slow)
