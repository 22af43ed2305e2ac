"""The rule catalog: an explicit, sorted list per family, no registration by import."""

from __future__ import annotations

from typing import Any

from killproof.rules.base import Rule


def all_rules() -> list[Rule[Any]]:
    """Every rule of every family, sorted by id."""
    from killproof.rules import cross, drill, go, image, inputs, k8s, kill, launch, systemd

    families = (inputs, go, k8s, launch, image, systemd, cross, drill, kill)
    return sorted((r for fam in families for r in fam.RULES), key=lambda r: r.id)


def catalog() -> dict[str, Rule[Any]]:
    """Rules by id."""
    return {r.id: r for r in all_rules()}
