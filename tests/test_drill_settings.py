"""The drill's settings are written once: the click options, :class:`DrillOptions` and
:class:`DrillConfig` take their defaults and help from the same fields."""

from __future__ import annotations

import dataclasses

import click

from killproof.commands.drill import command
from killproof.drill.run import DrillConfig
from killproof.drill.settings import DEFAULT_GRACE_S, DrillOptions, option_spec
from killproof.drill.setup import prepare


def test_every_option_is_a_field_with_its_help() -> None:
    params = {p.name: p for p in command.params if isinstance(p, click.Option)}
    fields = [f for f in dataclasses.fields(DrillOptions) if option_spec(f.metadata)]
    assert len(fields) == 26
    for f in fields:
        spec = option_spec(f.metadata)
        assert spec is not None
        assert params[f.name].opts[0] == spec.flags[0].split("/")[0]
        assert params[f.name].help == spec.help


def test_the_command_line_defaults_are_the_fields_defaults() -> None:
    """``killproof drill true`` parses to exactly ``DrillOptions(target=("true",))``."""
    ctx = command.make_context("drill", ["true"])
    fields = {f.name for f in dataclasses.fields(DrillOptions)}
    parsed = DrillOptions(**{k: v for k, v in ctx.params.items() if k in fields})
    assert parsed == DrillOptions(target=("true",))
    given = command.make_context("drill", ["--grace", "3s", "--no-shutdown-test", "true"])
    assert (given.params["grace"], given.params["shutdown_test"]) == ("3s", False)


def test_untouched_options_give_the_config_defaults() -> None:
    config = prepare(DrillOptions(target=("true",))).config
    defaults = {f.name: f.default for f in dataclasses.fields(DrillConfig)}
    for name in (
        "grace_s", "max_startup_s", "startup_timeout_s", "connections", "request_timeout_s",
        "slo_percentile", "slo_ms", "sample_hz", "host", "thrash_after_s", "sandbox", "engine",
    ):  # fmt: skip
        assert getattr(config, name) == defaults[name], name
    assert config.grace_s == DEFAULT_GRACE_S == 30.0
    assert (config.slo_percentile, config.slo_ms, config.request_timeout_s) == (99.0, 300.0, 5.0)
