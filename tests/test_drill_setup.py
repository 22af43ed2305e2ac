"""``drill`` options → configuration: defaults, manifest values, and what overrides what."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from killproof.drill.progress import progress_line
from killproof.drill.ready import ProbeKind
from killproof.drill.run import DrillProgress
from killproof.drill.sandbox import SandboxChoice
from killproof.drill.settings import DrillOptions
from killproof.drill.setup import build_config
from killproof.errors import InputError
from killproof.facts.load import LoadModel


def test_command_mode_defaults(tmp_path: Path) -> None:
    config, notes = build_config(DrillOptions(target=("./svc", "-v"), port=18991), tmp_path)
    assert config.command == ("./svc", "-v")
    assert config.memory_bytes == 128 << 20
    assert any("128Mi" in n for n in notes)
    assert (config.grace_s, config.stop_signal, config.max_startup_s) == (
        30.0,
        signal.SIGTERM,
        10.0,
    )
    assert config.ready.kind is ProbeKind.TCP and config.ready.port == 18991
    assert dict(config.env) == {"PORT": "18991", "ADDR": "127.0.0.1"}
    assert [(s.rate_rps, s.duration_s, s.model) for s in config.steps] == [
        (100.0, 40.0, LoadModel.OPEN)
    ]
    assert config.sandbox is SandboxChoice.AUTO


def test_command_line_values(tmp_path: Path) -> None:
    opts = DrillOptions(
        target=("./svc",), memory="64Mi", cpus="500m", port=18992, ready="/readyz",
        request="GET /orders?id={n}", rate="100,200", duration="5s", grace="3s",
        stop_signal="INT", slo="p90<50ms", env=("GOGC=50",), sandbox="watchdog",
    )  # fmt: skip
    config, _ = build_config(opts, tmp_path)
    assert (config.memory_bytes, config.cpus) == (64 << 20, 0.5)
    assert (config.ready.kind, config.ready.path) == (ProbeKind.HTTP, "/readyz")
    assert config.requests.templates[0].path == "/orders?id={n}"
    assert [s.rate_rps for s in config.steps] == [100.0, 200.0]
    assert (config.grace_s, config.stop_signal) == (3.0, signal.SIGINT)
    assert (config.slo_percentile, config.slo_ms) == (90.0, 50.0)
    assert config.env["GOGC"] == "50" and config.sandbox is SandboxChoice.WATCHDOG


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (DrillOptions(target=()), "nothing to drill"),
        (DrillOptions(target=("x",), host="10.1.2.3"), "not a loopback"),
        (DrillOptions(target=("x",), rate="100", ramp="1..2/10s"), "not both"),
        (DrillOptions(target=("x",), memory="lots"), "--memory"),
        (DrillOptions(target=("x",), slo="fast"), "--slo"),
    ],
)
def test_bad_options_are_input_errors(opts: DrillOptions, message: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=message):
        build_config(opts, tmp_path)


def test_progress_line() -> None:
    p = DrillProgress("load", 1, 3, 200, 198.4, 1.9, 4.25, 2, 43 << 20, 64 << 20)
    assert progress_line(p) == (
        "step 2/3  200/s → 198/s  p50 1.9ms  p99 4.2ms  errors 2  memory 43.0/64 MiB (67%)"
    )
    assert progress_line(DrillProgress("shutdown", limit_bytes=64 << 20)) == (
        "shutdown…  memory ?/64 MiB"
    )
