"""KP304 systemd-no-memory-limit: a service unit with no memory bound."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.yamltree import Pos


def check(facts: DeployFacts) -> Iterator[Finding]:
    """``.service`` units without MemoryMax=/MemoryHigh= (MemoryLimit= on cgroup v1 counts)."""
    for unit in facts.units:
        if not unit.name.endswith(".service"):
            continue
        if any(
            unit.get("Service", k) is not None for k in ("MemoryMax", "MemoryHigh", "MemoryLimit")
        ):
            continue
        yield RULE.finding(
            f"unit {unit.name} sets no MemoryMax=/MemoryHigh=: a leak grows until the kernel's "
            "global OOM killer (or systemd-oomd) kills something on the host",
            loc(Pos(unit.path, unit.section_line("Service")), f"unit {unit.name}"),
        )


BAD = """\
[Unit]
Description=orders API

[Service]
ExecStart=/usr/local/bin/orders
Restart=always

[Install]
WantedBy=multi-user.target
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP304",
    name="systemd-no-memory-limit",
    severity=Severity.WARNING,
    summary="systemd service unit without MemoryMax=/MemoryHigh=.",
    family="systemd",
    docs=RuleDocs(
        what=(
            "`.service` units (drop-ins in `NAME.service.d/*.conf` merged) with no `MemoryMax=`, "
            "`MemoryHigh=` or the cgroup-v1 `MemoryLimit=` in `[Service]`. The finding points "
            "at the `[Service]` header."
        ),
        why=(
            "An unbounded service competes with sshd, the journal and every other unit. On "
            "exhaustion the kernel picks the victim, and systemd-oomd may kill the whole "
            "slice. A unit-level limit confines the kill to the leaking service."
        ),
        example="A unit with ExecStart= and Restart= only.",
        fix="Add `MemoryMax=` (hard) and optionally `MemoryHigh=` (throttle) to `[Service]`.",
        references=(
            "https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html#MemoryMax=bytes",
        ),
    ),
    check=check,
    bad=(Example("systemd", BAD, "orders.service"),),
    good=(
        Example(
            "systemd",
            BAD.replace("Restart=always", "Restart=always\nMemoryMax=512M"),
            "orders.service",
        ),
    ),
)
