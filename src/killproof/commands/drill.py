"""``killproof drill``: being built (see the issue); replaced by the real command."""

from __future__ import annotations

import click

from killproof.errors import InputError


@click.command("drill", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> int:
    """(not yet available)"""
    raise InputError("'killproof drill' is not available in this build")
