"""A JSON document read in pieces (sources/docstream.py) gives what reading it whole gives.

The streaming reader takes over above 64 MiB; here its window is made a few bytes wide so
that every object, key and string is cut somewhere, and its events (with the lines they
cite) are compared with the whole-document reader's on the same text.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.errors import InputError
from killproof.facts.kill import KillEvent
from killproof.sources import docstream
from killproof.sources.k8s import detect_document, parse_document, stream_document

STATES = [
    {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2024-05-07T21:43:54Z"}},
    {"terminated": {"reason": "Error", "exitCode": 143}},
    {"terminated": {"reason": "Completed", "exitCode": 0}},
    {"running": {"startedAt": "2024-05-07T21:43:54Z"}},
    {},
]


def pod(i: int, state: int, last: int, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-{i}", "namespace": "shop", "labels": {"a": 'é"x'}},
        "status": {
            "containerStatuses": [
                {"name": "app", "state": STATES[state], "lastState": STATES[last]}
            ]
        },
    }


def event(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "involvedObject": {"kind": "Pod", "name": f"web-{i}", "namespace": "shop"},
        "reason": "Killing",
        "message": "Container app failed liveness probe, will be restarted",
    }


objects = st.lists(
    st.one_of(
        st.builds(
            pod,
            st.integers(0, 99),
            st.integers(0, len(STATES) - 1),
            st.integers(0, len(STATES) - 1),
            st.sampled_from(["web", "api"]),
        ),
        st.builds(event, st.integers(0, 99)),
    ),
    min_size=1,
    max_size=6,
)


def render(items: list[dict[str, Any]], shape: str, indent: int | None) -> str:
    if shape == "list":
        return json.dumps({"apiVersion": "v1", "items": items, "kind": "List"}, indent=indent)
    if shape == "array":
        return json.dumps(items, indent=indent)
    return "\n".join(json.dumps(x, indent=indent) for x in items)  # kubectl get -w


def whole(text: str) -> list[KillEvent]:
    doc = detect_document(text, "x.json")
    assert doc is not None
    return parse_document(doc, "x.json")


@settings(max_examples=200, deadline=None)
@given(
    items=objects,
    shape=st.sampled_from(["list", "array", "concatenated"]),
    indent=st.sampled_from([None, 2, 4]),
    window=st.integers(1, 300),
)
def test_streamed_events_and_lines_equal_the_whole_document(
    items: list[dict[str, Any]], shape: str, indent: int | None, window: int
) -> None:
    text = render(items, shape, indent)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(docstream, "READ_BYTES", window)
        streamed = list(stream_document(io.BytesIO(text.encode()), "x.json"))
    expected = whole(text)
    if indent is None:
        # One long line: each side quotes the part of it around the key (at most 400
        # characters); the streamed side sees the line only as far as its object goes.
        assert [same_but_quotes(e) for e in streamed] == [same_but_quotes(e) for e in expected]
        for got, want in zip(streamed, expected, strict=True):
            for a, b in zip(got.evidence, want.evidence, strict=True):
                assert a.text.strip("…") in text and b.text.strip("…") in text
    else:
        assert streamed == expected


def same_but_quotes(e: KillEvent) -> KillEvent:
    return e.with_changes(evidence=tuple(replace(x, text="") for x in e.evidence))


@settings(max_examples=100, deadline=None)
@given(items=objects, cut=st.floats(0.05, 0.95), window=st.integers(1, 200))
def test_a_truncated_stream_keeps_the_objects_before_the_cut(
    items: list[dict[str, Any]], cut: float, window: int
) -> None:
    text = render(items, "list", 4)
    part = text[: int(len(text) * cut)]
    got: list[KillEvent] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(docstream, "READ_BYTES", window)
        with pytest.raises(InputError, match=r"malformed JSON at line \d+"):
            got.extend(stream_document(io.BytesIO(part.encode()), "x.json"))
    # what was yielded is exactly the events of some leading objects
    for n in range(len(items) + 1):
        head = render(items[:n], "list", 4) if n else None
        if (whole(head) if head else []) == got:
            return
    pytest.fail(f"the events read before the cut are not those of leading objects: {got}")


def test_damage_is_reported_at_its_line_after_the_kills_before_it() -> None:
    text = render([pod(1, 0, 4, "web"), pod(2, 0, 4, "web")], "list", 4)
    broken = text.replace('"name": "web-2"', '"name": web-2', 1)
    got: list[KillEvent] = []
    with pytest.raises(InputError) as err:
        got.extend(stream_document(io.BytesIO(broken.encode()), "x.json"))
    assert [e.pod for e in got] == ["web-1"]
    assert err.value.line == broken[: broken.index("web-2")].count("\n") + 1
