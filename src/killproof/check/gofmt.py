"""A second opinion on Go that tree-sitter-go cannot read: ``gofmt -e``.

tree-sitter-go lags the language by a release or two, so a file it cannot parse is
either broken Go (it will not build: a KP001 error) or Go newer than the parser (it may
well build: a KP001 warning). The Go toolchain's own parser tells which when it is here.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

GOFMT_TIMEOUT_S = 10.0
"""How long one ``gofmt -e`` may take (seconds); the file is at most a few MiB."""

_ERROR = re.compile(r"^<standard input>:(\d+):(\d+): (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class GoSyntaxError:
    """What gofmt says is wrong: 1-based line and column, and its message."""

    line: int
    column: int
    message: str


@functools.cache
def gofmt_binary() -> str | None:
    """``gofmt`` on PATH, else the one in the GOROOT of the ``go`` command; None when
    there is no Go toolchain."""
    found = shutil.which("gofmt")
    if found:
        return found
    from killproof.errors import InputError
    from killproof.gotool import go_binary

    try:
        done = subprocess.run(
            [go_binary(), "env", "GOROOT"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError, InputError):  # InputError: no toolchain
        return None
    candidate = os.path.join(done.stdout.strip(), "bin", "gofmt")
    return candidate if done.returncode == 0 and os.access(candidate, os.X_OK) else None


class GofmtVerdict(enum.Enum):
    """gofmt had no syntax error to report, and why (the value is said to the user)."""

    READS = "gofmt reads it"
    ABSENT = "no gofmt to confirm a syntax error"


def gofmt_syntax_error(source: bytes) -> GoSyntaxError | GofmtVerdict:
    """gofmt's first syntax error in ``source``; READS when gofmt reads it; ABSENT when
    there is no gofmt to ask (or it failed to answer)."""
    binary = gofmt_binary()
    if binary is None:
        return GofmtVerdict.ABSENT
    try:
        done = subprocess.run(
            [binary, "-e"],
            input=source,
            capture_output=True,
            timeout=GOFMT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return GofmtVerdict.ABSENT
    if done.returncode == 0:
        return GofmtVerdict.READS
    match = _ERROR.search(done.stderr.decode("utf-8", "replace"))
    if match is None:
        return GofmtVerdict.ABSENT
    return GoSyntaxError(int(match[1]), int(match[2]), match[3])
