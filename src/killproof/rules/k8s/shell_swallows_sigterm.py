"""KP210 shell-swallows-sigterm: a shell is PID 1 and the server never sees SIGTERM."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping

from killproof.check.deploy_facts import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc
from killproof.sources.dockerfile import Dockerfile
from killproof.sources.entrypoint import Script, hands_over, shell_script_of
from killproof.sources.yamltree import Pos


def find_script(scripts: Mapping[str, Script], argv0: str, near: str = "") -> Script | None:
    """The repo script an executable path names (same basename; nearest to ``near`` wins)."""
    name = posixpath.basename(argv0)
    found = [s for p, s in scripts.items() if posixpath.basename(p) == name]
    if near:
        close = [s for s in found if posixpath.dirname(s.path).startswith(near)]
        found = close or found
    return found[0] if len(found) == 1 else None


def _script_finding(script: Script, used_by: str, at: Pos) -> Finding:
    return RULE.finding(
        f"entrypoint script {script.path} runs the server as a child of the shell "
        f"(last command {script.last_command!r} has no exec): the shell is PID 1, ignores "
        "SIGTERM, and the server is SIGKILLed at the end of the grace period",
        loc(Pos(script.path, script.last_line), used_by),
        [ev(f"started by {used_by}", at)],
        remedy=(
            'Start the server with `exec` as the script\'s last command (`exec /app/server "$@"`).'
        ),
    )


def _dockerfile(df: Dockerfile, facts: DeployFacts) -> Iterator[Finding]:
    entrypoint, cmd = df.entry()
    ins = entrypoint or cmd
    if ins is None or ins.exec_form is None:
        return  # shell form is KP301's
    argv = ins.exec_form
    script = shell_script_of(argv)
    at = Pos(df.path, ins.line)
    if script is not None and not hands_over(script):
        yield RULE.finding(
            f"{ins.keyword} runs `sh -c` without exec: the shell is PID 1 and the server "
            "never receives SIGTERM",
            loc(at, f"{df.path} final stage"),
        )
    elif (
        argv
        and (found := find_script(facts.scripts, argv[0], posixpath.dirname(df.path)))
        and not found.execs
    ):
        yield _script_finding(found, f"{df.path} {ins.keyword}", at)


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Commands and entrypoints that leave a shell as PID 1."""
    for linked in facts.launches:
        launch = linked.launch
        if not launch.argv or launch.argv_at is None:
            continue
        script = shell_script_of(launch.argv)
        if script is not None and not hands_over(script):
            yield RULE.finding(
                f"runs `{launch.argv[0]} -c` without exec: the shell is PID 1, "
                "does not forward SIGTERM, and the server is SIGKILLed when the grace period ends",
                loc(launch.argv_at, launch.subject),
            )
        elif (found := find_script(facts.scripts, launch.argv[0])) and not found.execs:
            yield _script_finding(found, launch.subject, launch.argv_at)
    for linked_df in facts.dockerfiles:
        yield from _dockerfile(linked_df.dockerfile, facts)


BAD = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
spec:
  containers:
    - name: api
      image: api:1
      command: ["/bin/sh", "-c", "migrate up && /app/api"]
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP210",
    name="shell-swallows-sigterm",
    severity=Severity.ERROR,
    summary="`sh -c` without exec, or an entrypoint script that does not exec the server.",
    family="k8s",
    docs=RuleDocs(
        what=(
            "Container `command`/`args`, compose `command`/`entrypoint`, systemd `ExecStart=` "
            "and exec-form Dockerfile ENTRYPOINT/CMD that run `sh -c SCRIPT` (any shell) where "
            "the script's last command is not `exec`-ed and no SIGTERM trap exists; and "
            "entrypoint scripts in the repo (named by those commands) whose last command is "
            "not `exec`. Script findings point at the script's last command line."
        ),
        why=(
            "The runtime signals PID 1 only. A shell as PID 1 has no default SIGTERM action "
            "in a container and does not forward the signal to its child, so the Go server "
            "never starts its graceful shutdown; after the grace period everything is "
            "SIGKILLed mid-request."
        ),
        example='`command: [/bin/sh, -c, "migrate up && /app/api"]`.',
        fix=(
            "Make the last command `exec /app/api` (or drop the shell and run the binary directly)."
        ),
        references=(
            "https://docs.docker.com/reference/dockerfile/#entrypoint",
            "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination",
        ),
    ),
    check=check,
    bad=(Example("yaml", BAD, "pod.yaml"),),
    good=(Example("yaml", BAD.replace("&& /app/api", "&& exec /app/api"), "pod.yaml"),),
)
