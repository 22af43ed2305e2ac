"""Go programs a CI pipeline runs with ``go run``: bots and release helpers, not services.

``go run cmd/gitlab-mr-checker/main.go`` in ``.gitlab/bots.yml`` builds a throwaway
binary on a CI runner for one job; nothing deploys it. Its directory is tooling, left out
like ``hack/`` (:func:`killproof.check.scope.ci_only_dirs` decides, from the CI files and
from what ships) and brought back by ``--include-tests``. Only a target below the root
counts (``go run .`` or ``go run main.go`` at the root is the project itself, ``go run
example.com/tool@v1`` is someone else's tool).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath

CI_FILE_MAX_BYTES = 1 << 20
"""Files larger than this (bytes) are not read: a pipeline definition is small."""
_GO_RUN = re.compile(r"\bgo\s+run\s+(?P<args>[^\n|;&]*)")


def go_run_dirs(text: str) -> set[str]:
    """Root-relative directories of the packages ``go run`` is given in ``text``
    (``cmd/bot/main.go`` → ``cmd/bot``, ``./tools/x`` → ``tools/x``)."""
    out: set[str] = set()
    for m in _GO_RUN.finditer(text):
        for raw in m.group("args").split():
            token = raw.strip("\"'")
            if token == "--":
                break
            if token.startswith("-") or not ("/" in token or token.endswith(".go")):
                continue  # a flag, or a flag's value
            target = _target_dir(token)
            if target:
                out.add(target)
            break
    return out


def _target_dir(token: str) -> str:
    """The directory a ``go run`` target names, "" for the root, a module path or a
    pattern."""
    token = token.removesuffix("/...")  # one package's pattern: that package
    if "@" in token or "..." in token or "$" in token:
        return ""
    path = PurePosixPath(token)
    if token.endswith(".go"):
        path = path.parent
    parts = [p for p in path.parts if p not in (".", "")]
    if not parts or ".." in parts or "." in parts[0]:
        return ""  # the root, outside it, or example.com/…
    return "/".join(parts)


def read_small(path: Path, root: Path) -> str:
    """The text of a regular file inside ``root`` (not through a link out), "" when it
    is missing, unreadable or larger than CI_FILE_MAX_BYTES."""
    try:
        real = path.resolve()
        if not real.is_relative_to(root.resolve()):
            return ""
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, RuntimeError):
        return ""
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > CI_FILE_MAX_BYTES:
            return ""
        return f.read(CI_FILE_MAX_BYTES).decode("utf-8", "replace")
