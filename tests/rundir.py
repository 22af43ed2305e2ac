"""Run ``check`` the way a user in the checked directory does (``cd ROOT; killproof
check .``): paths print as given, so from the root they are root-relative (``api.go``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path


@contextlib.contextmanager
def from_root(argv: Sequence[str | Path]) -> Iterator[list[str]]:
    """``argv`` with its one absolute path argument replaced by ``.`` (a directory) or its
    name (a file), run from that directory or the file's (the previous working directory
    is restored afterwards)."""
    paths = [str(a) for a in argv if os.path.isabs(str(a)) and os.path.exists(a)]
    paths = [p for p in paths if not p.endswith((".txt", ".json", ".sarif", ".xml"))]
    if len(paths) != 1:
        yield [str(a) for a in argv]
        return
    root = paths[0]
    here, given = (root, ".") if os.path.isdir(root) else os.path.split(root)
    before = os.getcwd()
    os.chdir(here)
    try:
        yield [given if str(a) == root else str(a) for a in argv]
    finally:
        os.chdir(before)
