"""``killproof rules`` and ``killproof explain ID``: the catalog, generated from rule modules."""

from __future__ import annotations

import json
from typing import Any

import click

from killproof.errors import InputError
from killproof.rules import all_rules, catalog
from killproof.rules.base import DOC_SECTIONS, Rule


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
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per rule; json: every rule with its documentation.",
)
def rules_command(family: str | None, docs: bool, fmt: str) -> int:
    """List every rule: id, name, severity, summary."""
    if docs:
        click.echo(catalog_markdown(), nl=False)
        return 0
    rules = [r for r in all_rules() if not family or r.id.startswith(family.upper())]
    if fmt == "json":
        click.echo(json.dumps([_rule_json(r) for r in rules], indent=2))
        return 0
    for rule in rules:
        click.echo(f"{rule.id}  {rule.name:<34} {rule.severity.value:<8} {rule.summary}")
    return 0


def _rule_json(rule: Rule[Any]) -> dict[str, Any]:
    """One rule's JSON form for ``rules --format json`` (key names are a public contract)."""
    return {
        "id": rule.id,
        "name": rule.name,
        "severity": rule.severity.value,
        "family": rule.family,
        "summary": rule.summary,
        "docs": {title: text.strip() for title, text in rule.docs.sections().items()},
    }


def find_rule(key: str) -> Rule[Any]:
    """The rule with this id (``KP109``, ``kp109``) or name (``unbounded-cache``)."""
    rules = catalog()
    found = rules.get(key.strip().upper())
    if found is None:
        by_name = {r.name: r for r in rules.values()}
        found = by_name.get(key.strip().lower())
    if found is None:
        raise InputError(f"unknown rule {key!r}: not a rule id or name (see 'killproof rules')")
    return found


def explain_text(rule_id: str, level: int = 1) -> str:
    """The documentation of one rule (by id or name), as Markdown (its title a heading
    of ``level``)."""
    rule = find_rule(rule_id)
    sections = rule.docs.sections()
    head = "#" * level
    parts = [f"{head} {rule.id} {rule.name} ({rule.severity.value})", "", rule.summary, ""]
    for title in DOC_SECTIONS:
        parts += [f"{head}# {title}", "", sections[title].strip(), ""]
    return "\n".join(parts)


@click.command("explain")
@click.argument("rule")
def explain_command(rule: str) -> int:
    """Show the documentation of one rule, by id or name (KP109, unbounded-cache)."""
    click.echo(explain_text(rule))
    return 0
