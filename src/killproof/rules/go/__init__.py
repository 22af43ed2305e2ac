"""Rules of the go family, listed explicitly and sorted by id.

``PACKAGE_RULES`` run on one package's facts inside the worker that parsed it;
``PROGRAM_RULES`` run on a main package together with the local packages it imports;
``SUPPRESSION_RULES`` (KP100) run on the ``killproof:ignore`` comments of any file kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from killproof.facts.go import PackageFacts, ProgramFacts
from killproof.rules.base import Rule
from killproof.rules.go import (
    kp100_ignore_without_reason,
    kp101_sigterm_not_handled,
    kp102_no_graceful_shutdown,
    kp103_shutdown_without_deadline,
    kp104_exit_on_server_closed,
    kp105_exit_skips_cleanup,
    kp106_unbuffered_signal_channel,
    kp107_server_without_timeouts,
    kp108_pprof_exposed,
    kp109_unbounded_cache,
    kp110_unbounded_goroutines,
    kp111_goroutine_never_exits,
    kp112_lost_cancel,
    kp113_db_pool_unbounded,
    kp114_http_client_without_timeout,
    kp115_unbounded_body_read,
    kp116_timer_leak_in_loop,
    kp117_gc_disabled_without_limit,
    kp118_serve_before_signal,
    kp119_sigterm_swallowed,
)
from killproof.suppression import Suppression

PACKAGE_RULES: list[Rule[PackageFacts]] = [
    kp103_shutdown_without_deadline.RULE,
    kp104_exit_on_server_closed.RULE,
    kp105_exit_skips_cleanup.RULE,
    kp106_unbuffered_signal_channel.RULE,
    kp107_server_without_timeouts.RULE,
    kp108_pprof_exposed.RULE,
    kp109_unbounded_cache.RULE,
    kp110_unbounded_goroutines.RULE,
    kp111_goroutine_never_exits.RULE,
    kp112_lost_cancel.RULE,
    kp114_http_client_without_timeout.RULE,
    kp115_unbounded_body_read.RULE,
    kp116_timer_leak_in_loop.RULE,
    kp118_serve_before_signal.RULE,
    kp119_sigterm_swallowed.RULE,
]

PROGRAM_RULES: list[Rule[ProgramFacts]] = [
    kp101_sigterm_not_handled.RULE,
    kp102_no_graceful_shutdown.RULE,
    kp113_db_pool_unbounded.RULE,
    kp117_gc_disabled_without_limit.RULE,
]

SUPPRESSION_RULES: list[Rule[Sequence[Suppression]]] = [kp100_ignore_without_reason.RULE]
"""Rules over ``killproof:ignore`` comments, of Go and deploy files alike."""

RULES: list[Rule[Any]] = sorted(
    [*PACKAGE_RULES, *PROGRAM_RULES, *SUPPRESSION_RULES], key=lambda r: r.id
)
