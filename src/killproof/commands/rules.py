"""``killproof rules`` and ``killproof explain ID``: the catalog, generated from rule modules."""

from __future__ import annotations

import click

from killproof.errors import InputError
from killproof.rules import all_rules, catalog
from killproof.rules.base import DOC_SECTIONS


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalog_markdown() -> str:
    """The whole catalog as one Markdown page (``docs/rules.md`` is this, generated)."""
    rules = all_rules()
    parts = [
        "# killproof rules",
        "",
        "Generated from the rule modules by `killproof rules --docs`; do not edit by hand.",
        "",
        "| id | name | severity | summary |",
        "|---|---|---|---|",
    ]
    parts += [
        f"| [{r.id}](#{r.id.lower()}-{r.name}-{r.severity.value}) | {r.name} "
        f"| {r.severity.value} | {_cell(r.summary)} |"
        for r in rules
    ]
    parts.append("")
    parts += [explain_text(rule.id, level=2) for rule in rules]
    return "\n".join(parts)


@click.command("rules")
@click.option("--family", help="Only ids starting with this prefix (KP1, KP2, KP50 …).")
@click.option("--docs", is_flag=True, help="Print every rule's documentation as Markdown.")
def rules_command(family: str | None, docs: bool) -> int:
    """List every rule: id, name, severity, summary."""
    if docs:
        click.echo(catalog_markdown(), nl=False)
        return 0
    for rule in all_rules():
        if family and not rule.id.startswith(family.upper()):
            continue
        click.echo(f"{rule.id}  {rule.name:<34} {rule.severity.value:<8} {rule.summary}")
    return 0


def explain_text(rule_id: str, level: int = 1) -> str:
    """The documentation of one rule, as Markdown (its title a heading of ``level``)."""
    rule = catalog().get(rule_id.upper())
    if rule is None:
        raise InputError(f"unknown rule id {rule_id!r} (see 'killproof rules')")
    sections = rule.docs.sections()
    head = "#" * level
    parts = [f"{head} {rule.id} {rule.name} ({rule.severity.value})", "", rule.summary, ""]
    for title in DOC_SECTIONS:
        parts += [f"{head}# {title}", "", sections[title].strip(), ""]
    return "\n".join(parts)


@click.command("explain")
@click.argument("rule_id")
def explain_command(rule_id: str) -> int:
    """Show the documentation of one rule (e.g. KP109)."""
    click.echo(explain_text(rule_id))
    return 0
