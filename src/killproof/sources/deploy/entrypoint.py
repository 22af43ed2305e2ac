"""Shell entrypoints: does PID 1 become the server (``exec``), or stay a shell?

A shell running as PID 1 receives SIGTERM and, unless it traps it, neither forwards it nor
exits, so the runtime waits out the grace period and sends SIGKILL. ``exec server`` replaces
the shell with the server, which then gets the signal itself.

Shells differ for ``sh -c SCRIPT`` (measured: bash 5.2 and dash 0.5.12 under ``ps``):
bash ≥ 5.1 and busybox ``sh`` exec the last simple command of the string themselves (not a
pipeline, a compound command or a redirected command); older bash execs only a string that
is one simple command; dash execs nothing it is not told to. Which shell ``/bin/sh`` is
comes from the image (:func:`image_shell`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from killproof.sources.deploy.shell import ShellScript, parse_shell


@dataclass(frozen=True)
class Script:
    """An entrypoint script: where it is and whether it hands PID 1 to the server."""

    path: str
    execs: bool
    last_line: int
    last_command: str
    runs_server: bool = True
    """False when nothing it runs can be a server (only shell utilities), or it ends with
    ``echo``/``exit`` or a file copy (``cp pkg.deb /out/``): a one-shot job, not a wrapper
    around a long-running process."""
    last_executable: str = ""
    """The basename of what its last command runs (``exec`` skipped; empty for a compound)."""
    runs_args: bool = False
    """It ends with ``exec "$@"``: what runs is the command it is given."""


@dataclass(frozen=True)
class Shell:
    """The shell that runs ``sh -c``/``bash -c`` and what it does with the last command.

    ``execs_last``: it execs the last simple command of the string itself;
    ``execs_single``: it execs a string that is a single simple command. ``why`` says how
    it was told (``alpine:3.20 is busybox``) or that it is assumed.
    """

    name: str
    execs_last: bool
    execs_single: bool
    why: str
    assumed: bool = False


SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_TERM = {"TERM", "SIGTERM", "15"}
_BUILTINS = {
    ":", ".", "((", "[", "[[", "break", "cd", "command", "continue", "declare", "echo", "eval",
    "exit", "export", "false", "getopts", "let", "local", "printf", "read", "readonly",
    "return", "set", "shift", "source", "test", "trap", "true", "typeset", "unset", "wait",
}  # fmt: skip
"""Run inside the shell: a builtin last command leaves the shell as PID 1."""
_ONE_SHOT_END = {
    "echo", "printf", "exit", "true", ":", "false",
    # a build or packaging container ends by handing its artefact out, then exits
    "cp", "mv", "rm", "ln", "chmod", "chown", "mkdir", "touch", "install", "rsync", "tar",
    "gzip", "zip", "sha256sum",
}  # fmt: skip
# Commands that are never the server a container exists for: a script made only of these
# (a `while true; do date; sleep 5; done` pod) has nothing to hand PID 1 to.
UTILITIES = frozenset({
    ":", "[", "[[", "awk", "basename", "cat", "cd", "chmod", "chown", "cp", "curl", "cut",
    "date", "dirname", "echo", "env", "envsubst", "eval", "exit", "export", "expr", "false",
    "find", "grep", "head", "hostname", "id", "kill", "ln", "ls", "mkdir", "mv", "printf",
    "pwd", "read", "rm", "sed", "seq", "set", "shift", "sleep", "sort", "source", ".", "stat",
    "tail", "tee", "test", "touch", "tr", "true", "ulimit", "umask", "uname", "unset",
    "wait", "wc", "wget", "whoami", "xargs", "yes",
})  # fmt: skip


def _traps_term(parsed: ShellScript) -> bool:
    return any(
        c.name == "trap" and any(w.upper() in _TERM for w in c.argv[2:]) for c in parsed.commands
    )


def _exec_runs(words: Sequence[str]) -> bool:
    """``exec prog …`` runs a program (``exec >log 2>&1`` only redirects)."""
    return len(words) >= 2 and words[0] == "exec"


def hands_over(script: str, parsed: ShellScript | None = None) -> bool:
    """True when the script ``exec``s its last command, or traps SIGTERM (and so forwards
    it), or ``exec``s ``"$@"`` (the command the image is given) anywhere."""
    parsed = parsed or parse_shell(script)
    if _traps_term(parsed):
        return True
    last = parsed.last
    if last is None:
        return True  # nothing runs: nothing to swallow the signal
    if last.command is not None and _exec_runs(last.command.argv):
        return True
    return any(_exec_runs(c.argv) and "$@" in c.words for c in parsed.commands)


def runs_server(parsed: ShellScript) -> bool:
    """False when no command could be a long-running server (only utilities and loops of
    them), or the script ends with ``echo``/``exit`` or by copying files out (a job that
    finishes: a package build that copies the ``.deb`` to a mounted directory)."""
    names = {c.name for c in parsed.commands if c.name} - parsed.functions
    if not names or names <= UTILITIES | _BUILTINS:
        return False
    last = parsed.last
    return not (last and last.command is not None and last.command.name in _ONE_SHOT_END)


def analyze_script(text: str, path: str) -> Script:
    """Whether an entrypoint script hands PID 1 over, and its last command line (1-based)."""
    parsed = parse_shell(text)
    last = parsed.last
    if last is None:
        return Script(path, True, 1, "", runs_server=False)
    shown = last.command.text if last.command is not None else f"{last.kind} …"
    argv = [w for w in last.command.argv if w != "exec"] if last.command is not None else []
    return Script(
        path=path,
        execs=hands_over(text, parsed),
        last_line=last.line,
        last_command=shown,
        runs_server=runs_server(parsed),
        last_executable=argv[0].rsplit("/", 1)[-1] if argv else "",
        runs_args=argv[:1] == ["$@"],
    )


def shell_script_of(argv: Sequence[str]) -> str | None:
    """The script of ``sh -c SCRIPT`` (any shell, any path), else None."""
    if len(argv) < 3:
        return None
    shell = argv[0].rsplit("/", 1)[-1]
    if shell not in SHELLS:
        return None
    for i, word in enumerate(argv[1:-1], 1):
        if word.startswith("-") and "c" in word[1:]:
            return argv[i + 1]
    return None


def sh_c_swallows(script: str, shell: Shell) -> bool:
    """True when ``<shell> -c script`` leaves the shell as PID 1 with the server as its
    child: nothing execs the last command, nothing traps SIGTERM, and a server runs."""
    parsed = parse_shell(script)
    if hands_over(script, parsed) or not runs_server(parsed):
        return False
    last = parsed.last
    cmd = last.command if last is not None else None
    plain = (
        cmd is not None
        and cmd.name not in _BUILTINS
        and cmd.before != "|"
        and cmd.after not in ("&", "|")
        and not cmd.redirected
    )
    if plain and shell.execs_last:
        return False
    return not (plain and shell.execs_single and len(parsed.commands) == 1)


# --- which shell an image has ---------------------------------------------------------

_DEBIAN_BASH = {
    "buster": 5.0, "bullseye": 5.1, "bookworm": 5.2, "trixie": 5.2,
    "focal": 5.0, "jammy": 5.1, "noble": 5.2, "bionic": 4.4,
    "debian:10": 5.0, "debian:11": 5.1, "debian:12": 5.2, "debian:13": 5.2,
    "ubuntu:18.04": 4.4, "ubuntu:20.04": 5.0, "ubuntu:22.04": 5.1, "ubuntu:24.04": 5.2,
}  # fmt: skip
_RHEL_BASH = {
    "centos:7": 4.2, "centos:8": 4.4, "ubi8": 4.4, "ubi9": 5.1, "ubi10": 5.2,
    "amazonlinux:2": 4.2, "amazonlinux:2023": 5.2, "rockylinux:8": 4.4, "rockylinux:9": 5.1,
    "almalinux:8": 4.4, "almalinux:9": 5.1, "oraclelinux:8": 4.4, "oraclelinux:9": 5.1,
}  # fmt: skip
# Official images built on Debian (or Ubuntu) unless their tag says alpine.
_DEBIAN_BASED = {
    "debian", "ubuntu", "golang", "node", "python", "ruby", "php", "perl", "rust", "nginx",
    "httpd", "redis", "postgres", "memcached", "eclipse-temurin", "openjdk", "maven",
    "gradle", "buildpack-deps", "cassandra", "elasticsearch",
}  # fmt: skip
_RHEL_BASED = {
    "centos", "fedora", "rockylinux", "almalinux", "amazonlinux", "oraclelinux", "ubi",
    "ubi8", "ubi9", "ubi10", "ubi-minimal", "ubi8-minimal", "ubi9-minimal", "rhel",
}  # fmt: skip


def _version(table: dict[str, float], ref: str, tag: str) -> float | None:
    key = next((k for k in table if k in ref or k == tag), None)
    return table[key] if key else None


def _bash(version: float | None, why: str) -> Shell:
    if version is None:
        return Shell("bash ≥ 5.1", True, True, f"{why}, version assumed ≥ 5.1", True)
    return Shell(f"bash {version:g}", version >= 5.1, True, why)


def image_shell(image: str, program: str) -> Shell:
    """The shell ``program`` (``sh``, ``bash``, ``ash``, ``dash``…) is in ``image`` (a
    reference such as ``alpine:3.20``; empty when unknown)."""
    ref = image.lower().split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    family = ""
    if "alpine" in name or "alpine" in tag or name == "busybox" or "distroless" in ref:
        family = "busybox"  # distroless has no shell but its :debug images: busybox
    elif name in _RHEL_BASED or any(k in ref for k in ("ubi8", "ubi9", "centos")):
        family = "rhel"
    elif name in _DEBIAN_BASED or any(k in tag for k in _DEBIAN_BASH if ":" not in k):
        family = "debian"
    shown = image or "the image"
    if program in ("ash", "busybox") or (program == "sh" and family == "busybox"):
        return Shell("busybox sh", True, True, f"{shown} is busybox-based")
    if program == "dash" or (program == "sh" and family == "debian"):
        return Shell("dash", False, False, f"/bin/sh in {shown} is dash (Debian/Ubuntu)")
    if program == "bash" or (program == "sh" and family == "rhel"):
        table = _RHEL_BASH if family == "rhel" else _DEBIAN_BASH
        where = f"bash in {shown}" if program == "bash" else f"/bin/sh in {shown} is bash"
        return _bash(_version(table, ref, tag) if family else None, where)
    if program == "sh":
        return Shell(
            "dash", False, False, f"assumed dash: {shown} does not tell which shell /bin/sh is",
            True,
        )  # fmt: skip
    return Shell(program, False, False, f"{program} assumed not to exec the last command", True)


def is_script_name(name: str) -> bool:
    """Files worth reading as entrypoint scripts."""
    lower = name.lower()
    return lower.endswith(".sh") or lower.startswith(
        ("entrypoint", "docker-entrypoint", "start", "run")
    )
