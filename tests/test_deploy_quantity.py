"""One quantity module: a ``--memory`` and a manifest's limit of the same text are the
same bytes; one duration parser; one byte formatter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killproof.drill.load_plan import parse_duration
from killproof.drill.quantity import parse_bytes
from killproof.errors import InputError
from killproof.rules.drill.common import secs
from killproof.rules.kill.text import mib as kernel_mib
from killproof.sources.deploy.quantity import memory_bytes, mib, parse_duration_s


def test_a_tenth_of_a_mebibyte_is_the_same_bytes_for_drill_and_check() -> None:
    # 0.1 × 1048576 = 104857.6 bytes: the kubelet rounds up (the drill truncated a float).
    assert memory_bytes("0.1Mi") == 104858
    assert parse_bytes("0.1Mi") == 104858


@given(
    whole=st.integers(min_value=0, max_value=10**6),
    frac=st.one_of(st.none(), st.integers(min_value=0, max_value=999_999)),
    suffix=st.sampled_from(["", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"]),
)
def test_drill_and_manifest_sizes_agree(whole: int, frac: int | None, suffix: str) -> None:
    text = f"{whole}{'' if frac is None else f'.{frac}'}{suffix}"
    assert parse_bytes(text) == memory_bytes(text)


@given(
    parts=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**4), st.sampled_from(["h", "m", "s", "ms"])
        ),
        min_size=1,
        max_size=4,
    )
)
def test_drill_durations_are_the_manifest_durations(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert parse_duration(text) == parse_duration_s(text)


@pytest.mark.parametrize("text", ["", "5x", "-3s", "0s", "1m-2s"])
def test_drill_durations_refuse_with_the_text(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def test_one_byte_formatter_for_drill_rules_and_kernel_kilobytes() -> None:
    assert mib(64 << 20) == "64.0 MiB"
    assert mib(None) == "?" and mib(None, "-") == "-"
    assert kernel_mib(65536) == "64.0 MiB"  # the kernel reports kB
    assert kernel_mib(None) == "?"
    assert secs(8.3) == "8.3 s"
