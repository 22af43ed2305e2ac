"""KP301 shell-form-entrypoint: ENTRYPOINT/CMD in shell form in the final stage."""

from __future__ import annotations

import json
from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.yamltree import Pos


def check(facts: DeployFacts) -> Iterator[Finding]:
    """The instruction that decides what PID 1 is, when it is written in shell form."""
    for linked in facts.dockerfiles:
        df = linked.dockerfile
        entrypoint, cmd = df.entry()
        ins = entrypoint or cmd  # with an ENTRYPOINT, CMD only supplies its arguments
        if ins is None or ins.exec_form is not None:
            continue
        yield RULE.finding(
            f"{ins.keyword} {ins.text!r} is in shell form: Docker runs it as `/bin/sh -c`, the "
            "shell is PID 1 and SIGTERM never reaches the server",
            loc(Pos(df.path, ins.line), f"{df.path} final stage"),
            remedy=f"Use exec form: `{ins.keyword} {json.dumps(ins.words())}`.",
        )


BAD = """\
FROM golang:1.23 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/api ./cmd/api

FROM alpine:3.20
COPY --from=build /out/api /usr/local/bin/api
CMD api --listen :8080
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP301",
    name="shell-form-entrypoint",
    severity=Severity.WARNING,
    summary="Dockerfile ENTRYPOINT/CMD in shell form in the final stage.",
    family="image",
    docs=RuleDocs(
        what=(
            "The final stage's effective ENTRYPOINT (or CMD when there is no ENTRYPOINT), "
            "inherited through `FROM <stage>`, written in shell form (`CMD api --flag`) "
            'instead of exec form (`CMD ["api", "--flag"]`). Earlier build stages and '
            "overridden instructions are ignored."
        ),
        why=(
            'Shell form runs `/bin/sh -c "…"`. The shell becomes PID 1, and `docker stop` / '
            "the kubelet signal only PID 1, so the Go server never starts its graceful "
            "shutdown and is SIGKILLed after the grace period."
        ),
        example="`CMD api --listen :8080`.",
        fix='Use exec form: `CMD ["api", "--listen", ":8080"]`.',
        references=(
            "https://docs.docker.com/reference/dockerfile/#shell-and-exec-form",
            "https://github.com/hadolint/hadolint/wiki/DL3025",
        ),
    ),
    check=check,
    bad=(Example("dockerfile", BAD, "Dockerfile"),),
    good=(
        Example(
            "dockerfile",
            BAD.replace("CMD api --listen :8080", 'CMD ["api", "--listen", ":8080"]'),
            "Dockerfile",
        ),
    ),
)
