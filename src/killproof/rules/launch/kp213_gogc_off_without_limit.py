"""KP213 gogc-off-without-limit: the heap grows until the kernel kills the process."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.yamltree import Pos


def check(facts: DeployFacts) -> Iterator[Finding]:
    """GOGC=off (launch env or image ENV) with no GOMEMLIMIT in env or code."""
    for linked in facts.launches:
        gogc = linked.launch.env.get("GOGC")
        if gogc is None or (gogc.value or "").strip().lower() != "off":
            continue
        if "GOMEMLIMIT" in linked.env() or (linked.program and linked.program.sets_memory_limit):
            continue
        yield _finding(gogc.at, linked.launch.subject)
    for linked_df in facts.dockerfiles:
        env = linked_df.dockerfile.env()
        if env.get("GOGC", ("", 0))[0].strip().lower() != "off" or "GOMEMLIMIT" in env:
            continue
        if linked_df.program is not None and linked_df.program.sets_memory_limit:
            continue
        yield _finding(
            Pos(linked_df.dockerfile.path, env["GOGC"][1]),
            f"{linked_df.dockerfile.path} final stage",
        )


def _finding(at: Pos, subject: str) -> Finding:
    return RULE.finding(
        "GOGC=off with no GOMEMLIMIT: the garbage collector never runs, so every allocation "
        "stays until the memory limit (or the node) kills the process",
        loc(at, subject),
    )


BAD = """\
FROM golang:1.23 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/api ./cmd/api

FROM gcr.io/distroless/static
COPY --from=build /out/api /api
ENV GOGC=off
ENTRYPOINT ["/api"]
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP213",
    name="gogc-off-without-limit",
    severity=Severity.ERROR,
    summary="GOGC=off with no GOMEMLIMIT.",
    family="launch",
    docs=RuleDocs(
        what=(
            "GOGC=off in a container/compose/unit environment or in the final image's ENV, "
            "with no GOMEMLIMIT in the environment, the image or the code "
            "(`debug.SetMemoryLimit`)."
        ),
        why=(
            "GOGC=off disables collection entirely unless a memory limit is set; the Go GC "
            "guide calls the combination GOGC=off + GOMEMLIMIT the only safe use. Alone, the "
            "heap only grows, and the process dies by OOM kill as surely as a leak."
        ),
        example="`ENV GOGC=off` in the final stage, no GOMEMLIMIT.",
        fix="Set GOMEMLIMIT (≈90% of the memory limit) alongside GOGC=off, or drop GOGC=off.",
        references=("https://go.dev/doc/gc-guide#Memory_limit",),
    ),
    check=check,
    bad=(Example("dockerfile", BAD, "Dockerfile"),),
    good=(
        Example(
            "dockerfile",
            BAD.replace("ENV GOGC=off", "ENV GOGC=off GOMEMLIMIT=900MiB"),
            "Dockerfile",
        ),
    ),
)
