"""The YAML loader: the same values as ruamel.yaml's YAML 1.2 loader, with every line kept."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from killproof.sources.deploy.yamltree import MAX_DEPTH, YamlError, YList, YMap, load_documents

CASES = {
    "anchors and merges": """
base: &base {memory: 64Mi, cpu: 100m}
limits:
  <<: *base
  memory: 128Mi
many:
  <<: [*base, {extra: 1}]
list: &l [1, 2]
again: *l
""",
    "explicit tags": """
a: !!int "3"
b: !!str 3
c: !!float "1.5"
d: !!bool "true"
e: !!null ""
""",
    "core schema scalars": """
words: [yes, no, on, off, True, FALSE, null, ~, Null]
numbers: [0, -1, +7, 017, 0o17, 0x1F, 1_000, 1.5, .5, 1e3, -.inf, .Inf]
quoted: ["1", '2', "true", "null"]
strings: [1.2.3, 10.0.0.1, 64Mi, 500m, 1h30m, "a: b", v1]
""",
    "multi documents": "---\nkind: A\n---\n---\nkind: B\n...\n---\n- 1\n- two\n",
    "block scalars": "script: |\n  exec /app\n  --port 8080\nfolded: >\n  one\n  two\n",
    "non-string keys": "1: one\nfalse: no\n~: nothing\n2.5: half\n",
    "yaml 1.2 only": "args: [-addr=:9000, -v]\nname: x\n",
    "json": '{"kind": "Pod", "spec": {"containers": [{"name": "a", "args": ["-p", 1]}]}}',
}


def reference(source: str) -> list[Any]:
    """ruamel.yaml's own YAML 1.2 values, keys as text (the tree's keys are strings)."""
    yaml = YAML(typ="safe", pure=True)
    return [keyed(doc) for doc in yaml.load_all(io.StringIO(source)) if doc is not None]


def keyed(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): keyed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keyed(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_ruamel(name: str) -> None:
    source = CASES[name]
    loaded = load_documents(source, "x.yaml")
    assert loaded == reference(source)


def test_other_tags_keep_their_text() -> None:
    """CloudFormation-style and binary tags: nothing checked needs more than the text."""
    [doc] = load_documents("f: !Ref some-name\ng: !!binary aGVsbG8=\nh: !!merge x\n", "t.yaml")
    assert doc == {"f": "some-name", "g": "aGVsbG8=", "h": "x"}


def test_lines_of_keys_items_and_merged_keys() -> None:
    [doc] = load_documents(CASES["anchors and merges"], "deploy.yaml")
    assert doc.pos("limits").line == 3
    assert doc["limits"].pos("memory").line == 5  # the explicit key, not the merged one
    assert doc["limits"].pos("cpu").line == 2  # a merged key points where it is written
    assert doc["limits"]["memory"] == "128Mi"
    assert doc["again"] is doc["list"]  # an alias shares the anchored object
    assert doc["again"].item_at[1].line == 8
    assert doc["many"]["extra"] == 1
    assert doc.at.path == "deploy.yaml"


def test_every_document_keeps_its_own_lines() -> None:
    docs = load_documents(CASES["multi documents"], "m.yaml")
    assert docs == [{"kind": "A"}, {"kind": "B"}, [1, "two"]]
    assert [d.at.line for d in docs] == [2, 5, 8]
    assert isinstance(docs[2], YList)
    assert [at.line for at in docs[2].item_at] == [8, 9]


def test_yaml_12_only_text_still_loads_with_lines() -> None:
    [doc] = load_documents(CASES["yaml 1.2 only"], "x.yaml")
    assert doc["args"] == ["-addr=:9000", "-v"]
    assert doc.pos("name").line == 2


def test_without_lines_every_position_is_unknown() -> None:
    [doc] = load_documents("a:\n  b: [1]\n", "built", keep_lines=False)
    assert doc.at.line == doc.pos("a").line == doc["a"].pos("b").line == 0


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("a: 1\nb: *nowhere\n", 2),
        ("a: [1, 2\nb: 3\n", 2),
        ("a: 1\n  b: 2\n", 2),
        ('key: "unterminated\n', 2),
        ("a: 1\nb: @x\n", 2),
    ],
)
def test_bad_yaml_names_its_line(source: str, line: int) -> None:
    with pytest.raises(YamlError) as err:
        load_documents(source, "bad.yaml")
    assert err.value.line == line


def test_deep_nesting_does_not_recurse() -> None:
    """Nesting up to MAX_DEPTH loads; deeper is refused at the line that passes it (the
    readers and rules that walk a tree later recurse)."""
    source = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    [doc] = load_documents(source, "deep.yaml")
    depth = 0
    while doc:
        doc, depth = doc[0], depth + 1
    assert depth == MAX_DEPTH - 1
    deeper = "x: 1\ny: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(YamlError, match=f"nested deeper than {MAX_DEPTH} levels") as err:
        load_documents(deeper, "deep.yaml")
    assert err.value.line == 2


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
trees = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.text("abcxyz-_.", min_size=1, max_size=6), kids, max_size=4),
    ),
    max_leaves=25,
)


@given(st.lists(trees, min_size=1, max_size=3), st.sampled_from([None, True, False]))
def test_any_data_dumped_by_ruamel_loads_back_the_same(docs: list[Any], flow: bool | None) -> None:
    """Whatever ruamel.yaml writes (block, flow or mixed style) loads to the same values."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    out = io.StringIO()
    yaml.dump_all(docs, out)
    source = out.getvalue()
    try:
        expected = reference(source)
    except Exception:  # ruamel writes some flow scalars it cannot read back ({_: ?0})
        with pytest.raises(YamlError):
            load_documents(source, "x.yaml")
        return
    loaded = load_documents(source, "x.yaml")
    assert loaded == expected
    for doc in load_documents(source, "x.yaml"):
        if isinstance(doc, YMap):
            assert all(1 <= doc.pos(k).line <= source.count("\n") + 1 for k in doc)
