"""Every line parser of `check` (and the value parsers behind it) runs in time linear in its
input: hostile lines of up to 1 MiB, built from the tokens each grammar reacts to, are read
within a per-example budget — or refused with a ValueError, never a hang."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from killproof.sources.deploy.dockerfile import parse_dockerfile
from killproof.sources.deploy.entrypoint import analyze_script, image_shell, sh_c_swallows
from killproof.sources.deploy.quantity import (
    parse_duration_s,
    parse_quantity,
    parse_systemd_bytes,
    parse_systemd_timespan_s,
)
from killproof.sources.deploy.shell import parse_shell
from killproof.sources.deploy.systemd_unit import parse_unit

MIB = 1 << 20
# What each grammar reacts to: quotes, escapes, substitutions, separators, continuations,
# keywords, numbers and units. Long runs of one token are where backtracking hides.
TOKENS = [
    "'", '"', "\\", "\\\n", "$(", "`", "${", ")", "}", ";", "&&", "||", "|", "&", " ", "\t",
    "#", "exec ", "trap ", "TERM ", "sh -c ", "<<EOF\n", "EOF\n", "do ", "done ", "if ",
    "fi ", "case ", "esac ", "(", "=", "--", "-", "0", "9", ".", "e", "Ki", "Mi", "ms",
    "min ", "s", "x", "[", "]", "\n", "RUN ", "CMD ", "FROM ", "ENV ", "ExecStart=",
]  # fmt: skip


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """A text of up to 1 MiB: a few tokens, each repeated many times."""
    parts = draw(st.lists(st.tuples(st.sampled_from(TOKENS), st.integers(1, 40_000)),
                          min_size=1, max_size=6))  # fmt: skip
    text = "".join(token * count for token, count in parts)
    return text[:MIB]


def _budget(parse: Callable[[str], object], text: str, seconds: float = 5.0) -> None:
    """CPU seconds, not wall time: the budget holds on a busy machine too. Linear readers
    take at most ~1.5 s for a mebibyte here; a quadratic one takes minutes."""
    start = time.process_time()
    with contextlib.suppress(ValueError):  # a refusal is fine; a hang or a crash is not
        parse(text)
    elapsed = time.process_time() - start
    assert elapsed < seconds, f"{len(text)} chars took {elapsed:.1f} s of CPU"


PARSERS: dict[str, Callable[[str], object]] = {
    "dockerfile": lambda t: parse_dockerfile(t, "Dockerfile"),
    "dockerfile RUN": lambda t: parse_dockerfile("FROM debian:12\nRUN " + t, "Dockerfile"),
    "dockerfile CMD": lambda t: parse_dockerfile("FROM debian:12\nCMD " + t, "Dockerfile"),
    "systemd unit": lambda t: parse_unit("[Service]\nExecStart=" + t, "x.service"),
    "systemd unit text": lambda t: parse_unit(t, "x.service"),
    "shell": parse_shell,
    "entrypoint": lambda t: analyze_script(t, "entrypoint.sh"),
    "sh -c (dash)": lambda t: sh_c_swallows(t, image_shell("debian:12", "sh")),
    "sh -c (busybox)": lambda t: sh_c_swallows(t, image_shell("alpine:3.20", "sh")),
    "quantity": parse_quantity,
    "duration": parse_duration_s,
    "systemd timespan": parse_systemd_timespan_s,
    "systemd bytes": parse_systemd_bytes,
}


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.data_too_large])  # fmt: skip
@given(text=hostile_text())
def test_a_hostile_line_of_up_to_a_mebibyte_is_read_in_budget(name: str, text: str) -> None:
    _budget(PARSERS[name], text)


@pytest.mark.parametrize("name", sorted(PARSERS))
@pytest.mark.parametrize("token", ["'", '"', "\\", "$(", "`", "trap ", " ", "0", "<<EOF\n"])
def test_one_token_repeated_to_a_mebibyte(name: str, token: str) -> None:
    _budget(PARSERS[name], (token * (MIB // len(token)))[:MIB])


@pytest.mark.parametrize("name", ["duration", "systemd timespan", "quantity", "systemd bytes"])
def test_a_mebibyte_of_digits_that_is_no_number_is_refused_in_budget(name: str) -> None:
    """Searching for `NUMBER UNIT` from every position of a digit run is quadratic."""
    _budget(PARSERS[name], "0" * MIB + "..", seconds=2.0)
