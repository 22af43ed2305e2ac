"""KP301 shell-form-entrypoint: ENTRYPOINT/CMD in shell form in the final stage."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc
from killproof.sources.deploy.dockerfile import Dockerfile
from killproof.sources.deploy.entrypoint import Shell, image_shell, sh_c_swallows
from killproof.sources.deploy.yamltree import Pos


def _shell(df: Dockerfile) -> tuple[str, Shell]:
    """The shell Docker runs shell-form instructions with (``SHELL``, else ``/bin/sh``)
    and what it does with the last command, from the final image's base."""
    declared = df.effective("SHELL")
    argv = declared.exec_form if declared is not None else None
    program = argv[0] if argv else "/bin/sh"
    return program, image_shell(df.base_image(), posixpath.basename(program))


def check(facts: DeployFacts) -> Iterator[Finding]:
    """The instruction that decides what PID 1 is, when it is written in shell form and the
    image's shell keeps PID 1 (dash never execs; bash ≥ 5.1 and busybox exec the last
    simple command; ``exec …`` or a SIGTERM trap hands over anywhere)."""
    for linked in facts.dockerfiles:
        df = linked.dockerfile
        entrypoint, cmd = df.entry()
        ins = entrypoint or cmd  # with an ENTRYPOINT, CMD only supplies its arguments
        if ins is None or ins.exec_form is not None:
            continue
        program, shell = _shell(df)
        if not sh_c_swallows(ins.text.strip(), shell):
            continue
        note = f"assuming {shell.name}: {shell.why}" if shell.assumed else shell.why
        yield RULE.finding(
            f"{ins.keyword} {ins.text!r} is in shell form: Docker runs it as `{program} -c`, "
            f"the shell is PID 1 and SIGTERM never reaches the server ({note})",
            loc(Pos(df.path, ins.line), f"{df.path} final stage"),
            remedy=f"Use exec form: `{ins.keyword} {json.dumps(ins.words())}`.",
        )


BAD = """\
FROM golang:1.23 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/api ./cmd/api

FROM debian:bookworm-slim
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
            'instead of exec form (`CMD ["api", "--flag"]`), when the image\'s shell keeps '
            "PID 1: dash (`/bin/sh` of Debian and Ubuntu images, and assumed when the base "
            "does not tell) never execs the command; busybox (Alpine) and bash ≥ 5.1 exec "
            "the last simple command, so `CMD api --flag` there is fine; `exec api` or a "
            "SIGTERM trap hands over in any shell. `SHELL` is honoured. Earlier build "
            "stages and overridden instructions are ignored."
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
