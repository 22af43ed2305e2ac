"""``killproof rules`` and ``killproof explain ID``: the catalog, generated from rule modules."""

from __future__ import annotations

import click

from killproof.errors import InputError
from killproof.rules import all_rules, catalog
from killproof.rules.base import DOC_SECTIONS


@click.command("rules")
@click.option("--family", help="Only ids starting with this prefix (KP1, KP2, KP50 …).")
def rules_command(family: str | None) -> int:
    """List every rule: id, name, severity, summary."""
    for rule in all_rules():
        if family and not rule.id.startswith(family.upper()):
            continue
        click.echo(f"{rule.id}  {rule.name:<34} {rule.severity.value:<8} {rule.summary}")
    return 0


def explain_text(rule_id: str) -> str:
    """The documentation of one rule, as Markdown."""
    rule = catalog().get(rule_id.upper())
    if rule is None:
        raise InputError(f"unknown rule id {rule_id!r} (see 'killproof rules')")
    sections = rule.docs.sections()
    parts = [f"# {rule.id} {rule.name} ({rule.severity.value})", "", rule.summary, ""]
    for title in DOC_SECTIONS:
        parts += [f"## {title}", "", sections[title].strip(), ""]
    return "\n".join(parts)


@click.command("explain")
@click.argument("rule_id")
def explain_command(rule_id: str) -> int:
    """Show the documentation of one rule (e.g. KP109)."""
    click.echo(explain_text(rule_id))
    return 0
