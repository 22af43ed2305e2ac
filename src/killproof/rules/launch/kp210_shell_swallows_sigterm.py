"""KP210 shell-swallows-sigterm: a shell is PID 1 and the server never sees SIGTERM."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping

from killproof.facts.deploy import DeployFacts, Launch, LaunchKind
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import ev, loc
from killproof.sources.deploy.dockerfile import Dockerfile
from killproof.sources.deploy.entrypoint import (
    SHELLS,
    Script,
    Shell,
    image_shell,
    sh_c_swallows,
    shell_script_of,
)
from killproof.sources.deploy.yamltree import Pos


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


def _sh_c_finding(
    argv: tuple[str, ...] | list[str], shell: Shell, what: str, at: Pos, subject: str
) -> Finding:
    shell_note = f"assuming {shell.name}: {shell.why}" if shell.assumed else shell.why
    return RULE.finding(
        f"{what} runs `{argv[0]} -c` and nothing execs the server: {shell.name} stays PID 1, "
        "does not forward SIGTERM, and the server is SIGKILLed when the grace period ends "
        f"({shell_note})",
        loc(at, subject),
        remedy="Make the server the last command and `exec` it (`… && exec /app/api`).",
    )  # fmt: skip


def _script_path(argv: tuple[str, ...] | list[str]) -> str:
    """The script a command runs: argv[0], or the file of ``sh FILE``."""
    if posixpath.basename(argv[0]) in SHELLS and len(argv) > 1 and argv[1][:1] != "-":
        return argv[1]
    return argv[0]


def _shell(argv: tuple[str, ...] | list[str], image: str) -> Shell:
    return image_shell(image, posixpath.basename(argv[0]))


def _dockerfile(df: Dockerfile, facts: DeployFacts) -> Iterator[Finding]:
    entrypoint, cmd = df.entry()
    ins = entrypoint or cmd
    if ins is None or ins.exec_form is None:
        return  # shell form is KP301's
    argv = ins.exec_form
    script = shell_script_of(argv)
    at = Pos(df.path, ins.line)
    if script is not None:
        shell = _shell(argv, df.base_image())
        if sh_c_swallows(script, shell):
            yield _sh_c_finding(argv, shell, ins.keyword, at, f"{df.path} final stage")
    elif (
        argv
        and (found := find_script(facts.scripts, argv[0], posixpath.dirname(df.path)))
        and not found.execs
        and found.runs_server
    ):
        yield _script_finding(found, f"{df.path} {ins.keyword}", at)


def _signals_every_process(launch: Launch, facts: DeployFacts) -> bool:
    """systemd's default KillMode=control-group sends SIGTERM to every process of the
    unit, the shell's children included."""
    if launch.kind is not LaunchKind.SYSTEMD:
        return False
    for unit in facts.units:
        if unit.path == launch.at.path:
            mode = unit.get("Service", "KillMode")
            return mode is None or mode.value.strip() == "control-group"
    return True


def check(facts: DeployFacts) -> Iterator[Finding]:
    """Commands and entrypoints that leave a shell as PID 1."""
    for linked in facts.launches:
        launch = linked.launch
        if not launch.argv or launch.argv_at is None or _signals_every_process(launch, facts):
            continue
        script = shell_script_of(launch.argv)
        if script is not None:
            image = linked.dockerfile.base_image() if linked.dockerfile else launch.image
            shell = _shell(launch.argv, image)
            if sh_c_swallows(script, shell):
                yield _sh_c_finding(launch.argv, shell, "the command", launch.argv_at,
                                    launch.subject)  # fmt: skip
        elif (
            (found := find_script(facts.scripts, _script_path(launch.argv)))
            and not found.execs
            and found.runs_server
        ):
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
    family="launch",
    docs=RuleDocs(
        what=(
            "Container `command`/`args`, compose `command`/`entrypoint`, systemd `ExecStart=` "
            "(only with `KillMode=process`/`mixed`: by default systemd signals every process "
            "of the unit) and exec-form Dockerfile ENTRYPOINT/CMD that run `sh -c SCRIPT` "
            "where no SIGTERM trap exists and the shell stays PID 1: the last command is not "
            "`exec`-ed and the shell does not exec it itself. busybox `sh` (Alpine) and bash "
            "≥ 5.1 exec the last simple command of `-c` (not a pipeline, a loop or a "
            "redirected command), older bash only a lone command, dash (`/bin/sh` on "
            "Debian/Ubuntu) never: the shell is read from the image's base (`alpine:3.20`, "
            "`debian:12`, `ubi9` …) and the message says which one it assumed. The script is "
            "read as the shell reads it (quotes, `$(…)`, here-documents). A script that runs "
            "only shell utilities (`while true; do date; sleep 5; done`) has no server and is "
            "not reported. Entrypoint scripts in the repo (named by those commands) whose last "
            "command is not `exec` are reported at that line, unless they end with "
            "`echo`/`exit` or by copying their artefact out (`cp *.deb /pkg/`, `tar`, `mv`: "
            "a build or packaging container that runs to completion, with no server to "
            "signal)."
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
