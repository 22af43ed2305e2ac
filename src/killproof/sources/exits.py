"""Go, shell and exit-code evidence of a signal death → :class:`KillEvent`.

All of these prove *that* a signal ended the process, never *who* sent it, so every event
has cause SIGKILL_UNKNOWN with ``signal`` saying which signal it was:

* Go's ``os.ProcessState`` text: ``signal: killed`` (SIGKILL), ``signal: terminated``
  (SIGTERM) — from ``go run``, ``go test``, ``os/exec`` errors and ``go build``'s
  ``…/compile: signal: killed``; ``exit status 137``/``143`` (a child that itself reported
  128+9 / 128+15, conventionally for a signalled grandchild).
* Any tool's ``exit code 137`` (PyCharm, ``kubectl exec``): SIGKILL.
* Shells: bash ``./run.sh: line 1:  123 Killed  ./orders``, its job line ``[1]+  Killed
  ./orders``, a bare ``Killed``, ``Terminated``; zsh ``zsh: killed  ./orders``.

Why a SIGTERM death is SIGKILL_UNKNOWN with ``signal="SIGTERM"``: the cause names who
killed the process; for both signals the sender is unknown, and the ``signal`` field is
where the two differ (a SIGTERM death means someone asked it to stop and it did not handle
the request). Inventing a separate cause would change the JSON contract for no extra fact.

Not a kill: Go's ``fatal error: runtime: out of memory`` is the runtime failing to get
memory from the OS (ulimit -v, overcommit=2); it exits with status 2 and no signal, so no
event is emitted for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from killproof.errors import InputError
from killproof.facts.kill import Cause, KillEvent
from killproof.model import Evidence
from killproof.sources.journal import split_journal_line

# Every pattern is linear in the line (which may be 1 MiB): the command runs to the last
# non-blank (".*\S", never ".+?" before "\s*$"), numbers are bounded, and the word before a
# Go status (who: signal: killed) is found by hand, not by "\S+" tried from every position.
_GO_SIGNAL = re.compile(r"signal: (?P<name>killed|terminated)\b")
_GO_STATUS = re.compile(r"exit status (?P<code>137|143)\b")
# bash: "./run.sh: line 1:   123 Killed                  ./orders --port 8080"
_BASH_LINE = re.compile(
    r"line \d{1,10}:\s+(?P<pid>\d{1,10})\s+(?P<name>Killed|Terminated)\s+(?P<cmd>.*\S)"
)
# bash job table: "[1]+  Killed                  ./orders"
_BASH_JOB = re.compile(
    r"^\[\d{1,10}\][+-]?\s+(?:(?P<pid>\d{1,10})\s+)?(?P<name>Killed|Terminated)\s+(?P<cmd>.*\S)"
)
# zsh: "zsh: killed     ./orders" and its job table "[1]  + 4242 killed     ./orders"
_ZSH = re.compile(r"^zsh: (?P<name>killed|terminated)\s+(?P<cmd>.*\S)")
_ZSH_JOB = re.compile(
    r"^\[\d{1,10}\]\s+(?:[+-]\s*)?(?P<pid>\d{1,10}) (?P<name>killed|terminated)\s+(?P<cmd>.*\S)"
)
_BARE = re.compile(r"^(?P<name>Killed|Terminated)\s*$")
# Any tool's "exit code 137": PyCharm's "Process finished with exit code 137 (interrupted by
# signal 9: SIGKILL)", kubectl exec's "command terminated with non-zero exit code: Error
# executing in Docker Container: 137". The gap is bounded, so the search stays linear.
_EXIT_CODE = re.compile(r"[Ee]xit code\b[^\n]{0,80}?[:\s](?P<code>137)\b")

_ENV_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,64}=")
_BY_NAME = {"killed": "SIGKILL", "terminated": "SIGTERM"}
_BY_CODE = {137: "SIGKILL", 143: "SIGTERM", -9: "SIGKILL", -15: "SIGTERM"}

# Specific enough not to feed every "killed"/"terminated" word of a big journal to the
# regexes: bash prints "Killed"/"Terminated" capitalised, zsh pads its lower-case status.
ANCHORS = (
    "signal: killed",
    "signal: terminated",
    "exit status 137",
    "exit status 143",
    "xit code",
    "Killed",
    "Terminated",
    "zsh: killed",
    "zsh: terminated",
    " killed ",
    " terminated ",
)


def _who(text: str, at: int) -> str | None:
    """The word right before ``at`` when it ends in ``:`` and blanks follow it (``…/compile:
    signal: killed``), without the colon; None otherwise."""
    before = text[:at]
    word = before.rstrip()
    if len(word) == len(before) or not word.endswith(":"):
        return None
    token = word.rsplit(None, 1)[-1][:-1]
    return token or None


def _command_name(cmd: str) -> str | None:
    """``./bin/orders --port 8080`` → ``orders`` (the base name of the first word that is not
    an environment assignment)."""
    # Leading environment assignments (CUDA_VISIBLE_DEVICES=0 python x.py) are not the command.
    words = [w for w in cmd.split(maxsplit=8)[:8] if not _ENV_WORD.match(w)]
    first = words[0] if words else ""
    name = first.rstrip(":").strip("\"'").rsplit("/", 1)[-1]
    return name or None


def _message(signal: str) -> str:
    if signal == "SIGKILL":
        return "the process died from SIGKILL; this evidence does not say who sent it"
    return (
        "the process died from SIGTERM (not SIGKILL): something asked it to stop and it "
        "did not handle the signal; this evidence does not say who sent it"
    )


class ExitLineParser:
    """Streaming parser of Go and shell output that reports a signal death."""

    anchors: tuple[str, ...] = ANCHORS

    def __init__(self, path: str = "") -> None:
        self.path = path

    @property
    def wants_context(self) -> bool:
        """Never: each death is one line."""
        return False

    def feed(self, lineno: int, line: str) -> Iterable[KillEvent]:
        """Take one line; return an event when it reports a signal death."""
        jl = split_journal_line(line)
        text = jl.text.strip()
        source, pid, process, signal, code = "shell", None, None, None, None
        if m := _BASH_LINE.search(text) or _BASH_JOB.match(text) or _ZSH_JOB.match(text):
            pid = int(m["pid"]) if m["pid"] else None
            process, signal = _command_name(m["cmd"]), _BY_NAME[m["name"].lower()]
        elif m := _ZSH.match(text):
            process, signal = _command_name(m["cmd"]), _BY_NAME[m["name"]]
        elif m := _BARE.match(text.strip("*_`'\" ")):  # also **Killed** in a Markdown paste
            signal = _BY_NAME[m["name"].lower()]
        elif (m := _EXIT_CODE.search(text)) and not _GO_STATUS.search(text):
            code = int(m["code"])
            signal = _BY_CODE[code]
        elif m := _GO_SIGNAL.search(text) or _GO_STATUS.search(text):
            source = "go"
            if m.re is _GO_SIGNAL:
                signal = _BY_NAME[m["name"]]
            else:
                code = int(m["code"])
                signal = _BY_CODE[code]
            # Only a path names the process ("…/compile: signal: killed"); a word like
            # "error:" does not.
            who = _who(text, m.start())
            process = _command_name(who) if who and "/" in who else None
        else:
            return ()
        return (
            KillEvent(
                cause=Cause.SIGKILL_UNKNOWN,
                source=source,
                pid=pid,
                process=process,
                signal=signal,
                exit_code=code,
                reason=text if len(text) <= 200 else text[:200],
                message=_message(signal)
                + (f" (a child reported {code} = 128+{code - 128})" if code else ""),
                time=jl.time,
                epoch_s=jl.epoch_s,
                uptime_s=jl.uptime_s,
                host=jl.host,
                evidence=(Evidence(line.strip(), self.path, lineno),),
            ),
        )

    def finish(self) -> Iterable[KillEvent]:
        """Nothing is ever open."""
        return ()


def exit_code_event(code: int) -> KillEvent:
    """The event for ``--exit-code N``: 137 (or -9) is SIGKILL, 143 (or -15) is SIGTERM.

    Any other code is not a signal death killproof explains: :class:`InputError`.
    """
    signal = _BY_CODE.get(code)
    if signal is None:
        if 128 < code < 160:
            hint = f"{code} is 128+{code - 128}: a death by signal {code - 128}, not a kill"
        else:
            hint = f"{code} is a normal exit status, not a signal death"
        raise InputError(
            f"--exit-code {hint}; killproof why explains 137 (SIGKILL) and 143 (SIGTERM)"
        )
    return KillEvent(
        cause=Cause.SIGKILL_UNKNOWN,
        source="exit-code",
        signal=signal,
        exit_code=code,
        reason=f"exit code {code}",
        message=_message(signal),
        evidence=(Evidence(f"exit code {code}"),),
    )
