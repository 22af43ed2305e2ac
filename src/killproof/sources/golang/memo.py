"""Per-package memos of syntax-tree facts, cleared once a package is checked.

Rules ask the same question of one function many times (is there a ``wg.Wait()`` after
this ``go``? where is this name assigned?): a memo makes a function of thousands of
statements cost one walk instead of one per statement. The memos hold tree nodes, which
keep their trees alive, so the checker clears them after each package
(:func:`forget`) rather than letting a worker keep every tree it has parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_MEMOS: list[Any] = []
MEMO_SIZE = 1024
"""Entries per memo: functions and loops of one package (more are simply recomputed)."""


def memo(func: F) -> F:
    """Memoize ``func`` (hashable arguments: tree nodes, names) until :func:`forget`."""
    cached = lru_cache(maxsize=MEMO_SIZE)(func)
    _MEMOS.append(cached)
    return cached  # type: ignore[return-value]


def forget() -> None:
    """Drop every memo (and the trees their nodes keep alive)."""
    for cached in _MEMOS:
        cached.cache_clear()
