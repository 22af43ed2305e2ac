"""Property tests for every deploy-file parser: bad input gives the parser's own error with
a line (or a value), never another exception; good input round-trips with exact lines."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from killproof.check.deploy import check_deploy
from killproof.config import ProjectConfig, parse_project_config
from killproof.errors import InputError
from killproof.sources.deploy.compose import merge_projects, parse_compose
from killproof.sources.deploy.dockerfile import (
    DockerfileError,
    is_dockerfile_name,
    parse_dockerfile,
)
from killproof.sources.deploy.entrypoint import (
    analyze_script,
    hands_over,
    image_shell,
    sh_c_swallows,
    shell_script_of,
)
from killproof.sources.deploy.quantity import (
    QuantityError,
    format_bytes,
    gomemlimit_bytes,
    memory_bytes,
    parse_docker_bytes,
    parse_duration_s,
    parse_quantity,
    parse_systemd_bytes,
    parse_systemd_timespan_s,
)
from killproof.sources.deploy.shell import parse_shell
from killproof.sources.deploy.systemd_unit import UnitError, parse_unit
from killproof.sources.deploy.yamltree import YamlError, YList, YMap, load_documents
from killproof.suppression import find_suppressions

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9}
GO_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)


@given(st.integers(0, 10**6), st.sampled_from(sorted(BINARY | DECIMAL)))
def test_memory_quantities(n: int, suffix: str) -> None:
    """``{n}{suffix}`` is n × the unit, in bytes."""
    assert memory_bytes(f"{n}{suffix}") == n * (BINARY | DECIMAL)[suffix]


@given(st.integers(0, 2**50))
def test_format_bytes_round_trips(n: int) -> None:
    """What format_bytes writes, memory_bytes reads back."""
    assert memory_bytes(format_bytes(n)) == n


@given(st.integers(0, 100000))
def test_millicores(m: int) -> None:
    """``{m}m`` CPU is m/1000 cores."""
    assert float(parse_quantity(f"{m}m")) == m / 1000


@given(st.integers(0, 10**6), st.sampled_from(sorted(GO_UNITS)))
def test_gomemlimit_syntax(n: int, unit: str) -> None:
    """Go's GOMEMLIMIT units, and Kubernetes' Mi is refused as Go refuses it."""
    assert gomemlimit_bytes(f"{n}{unit}") == n * GO_UNITS[unit]
    try:
        gomemlimit_bytes(f"{n}Mi")
    except QuantityError:
        pass
    else:
        raise AssertionError("Mi accepted")


@given(text)
def test_number_parsers_never_crash(value: str) -> None:
    """Any text is a number or that parser's QuantityError."""
    for parse in (
        parse_quantity, gomemlimit_bytes, parse_duration_s, parse_systemd_timespan_s,
        parse_systemd_bytes, parse_docker_bytes,
    ):  # fmt: skip
        with contextlib.suppress(QuantityError):
            parse(value)


@given(st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_durations(m: int, s: int, ms: int) -> None:
    """Compose durations add up their parts."""
    assert abs(parse_duration_s(f"{m}m{s}s{ms}ms") - (m * 60 + s + ms / 1000)) < 1e-9


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**9), 10**9), st.text("abc xyz-_/.:", max_size=12)
)
json_tree = st.recursive(
    json_leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6), kids, max_size=4),
    ),
    max_leaves=20,
)


def plain(value: Any) -> Any:
    """YMap/YList → dict/list."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def check_lines(value: Any, lines: list[str]) -> None:
    """Every key's recorded line holds that key."""
    if isinstance(value, YMap):
        for key, child in value.items():
            assert f'"{key}"' in lines[value.pos(key).line - 1]
            check_lines(child, lines)
    elif isinstance(value, YList):
        for child in value:
            check_lines(child, lines)


@given(
    st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6), json_tree, min_size=1, max_size=5)
)
def test_yaml_tree_round_trips_json_with_lines(doc: dict[str, Any]) -> None:
    """JSON is YAML: the tree equals the data and each key's line holds the key."""
    source = json.dumps(doc, indent=2)
    [loaded] = load_documents(source, "x.json")
    assert plain(loaded) == doc
    check_lines(loaded, source.splitlines())


@given(text)
def test_yaml_loader_never_crashes(source: str) -> None:
    """Any text: documents, or a YamlError."""
    try:
        load_documents(source, "x.yaml")
    except YamlError as exc:
        assert exc.line >= 0


@given(text)
def test_compose_parser_never_crashes(source: str) -> None:
    """Any text: a compose file, or a YamlError."""
    with contextlib.suppress(YamlError):
        parse_compose(source, "compose.yaml")


instruction = st.sampled_from(
    ["RUN go build ./...", "COPY . .", "ENV A=b", "WORKDIR /src", "USER 1000", 'CMD ["/app"]',
     "ENTRYPOINT /app", "EXPOSE 8080", "STOPSIGNAL SIGTERM", "ARG X=1"]
)  # fmt: skip


@given(st.lists(st.lists(instruction, max_size=5), min_size=1, max_size=4), st.data())
def test_dockerfile_stages_and_lines(stages: list[list[str]], data: st.DataObject) -> None:
    """Generated multi-stage files: the stage count, and each instruction at its own line."""
    lines: list[str] = []
    for index, body in enumerate(stages):
        lines.append(f"FROM alpine:3.20 AS s{index}")
        for ins in body:
            if data.draw(st.booleans()):
                lines.append("# a comment")
            lines.append(ins)
    parsed = parse_dockerfile("\n".join(lines) + "\n", "Dockerfile")
    assert len(parsed.stages) == len(stages)
    for stage in parsed.stages:
        for parsed_ins in stage.instructions:
            assert lines[parsed_ins.line - 1].startswith(parsed_ins.keyword)


@given(text)
def test_dockerfile_parser_never_crashes(source: str) -> None:
    """Any text: a Dockerfile, or a DockerfileError with a line."""
    try:
        parse_dockerfile(source, "Dockerfile")
    except DockerfileError as exc:
        assert exc.line >= 1


@given(
    st.lists(
        st.tuples(st.sampled_from(["MemoryMax", "KillSignal", "TimeoutStopSec", "Environment"]),
                  st.text("abcXYZ0123=", max_size=10)),
        max_size=8,
    )
)  # fmt: skip
def test_unit_directives_keep_lines(assignments: list[tuple[str, str]]) -> None:
    """Each directive is read back with its value and line; the last one wins."""
    lines = ["[Service]"] + [f"{k}={v}" for k, v in assignments]
    unit = parse_unit("\n".join(lines), "a.service")
    for d in unit.directives:
        assert lines[d.line - 1] == f"{d.key}={d.value}"
    for key in {k for k, _ in assignments}:
        last = [v for k, v in assignments if k == key][-1]
        got = unit.get("Service", key)
        assert (got.value if got else "") == last.strip()


@given(text)
def test_unit_parser_never_crashes(source: str) -> None:
    """Any text: a unit, or a UnitError with a line."""
    try:
        parse_unit(source, "x.service")
    except UnitError as exc:
        assert exc.line >= 1


@given(text)
def test_scripts_and_suppressions_never_crash(source: str) -> None:
    """Script analysis and suppression scanning take any text."""
    script = analyze_script(source, "s.sh")
    assert script.last_line >= 1
    for s in find_suppressions(source, "f"):
        assert s.line >= 1 and s.covers >= s.line


@given(
    st.lists(st.sampled_from(["set -e", "echo hi", "cd /app", "env"]), max_size=5), st.booleans()
)
def test_exec_as_last_command_hands_over(prefix: list[str], exec_last: bool) -> None:
    """A script hands PID 1 over exactly when its last command is exec'd."""
    body = "\n".join(["#!/bin/sh", *prefix, ("exec " if exec_last else "") + "/app/api"])
    assert hands_over(body) is exec_last
    assert (shell_script_of(["sh", "-c", "; ".join([*prefix, "/app/api"])]) or "").endswith(
        "/app/api"
    )


@given(
    st.sets(st.sampled_from(["KP201", "KP210", "KP303"]), min_size=1),
    st.text("abc def", max_size=20),
)
def test_suppression_rules_and_reason(rules: set[str], reason: str) -> None:
    """The ids and the reason of an own-line suppression, covering the next line."""
    source = f"# killproof:ignore {','.join(sorted(rules))} {reason}\nkey: value\n"
    [s] = find_suppressions(source, "f.yaml")
    assert s.rules == frozenset(rules) and s.reason == reason.strip() and s.covers == 2


@given(text)
def test_project_config_never_crashes(source: str) -> None:
    """Any .killproof.yaml text: a config, or an InputError naming the file."""
    try:
        parse_project_config(source, ".killproof.yaml")
    except InputError as exc:
        assert exc.path == ".killproof.yaml"


DEPLOY_NAMES = ["a.yaml", "Dockerfile", "x.service", "compose.yaml", "kustomization.yaml", "e.sh"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(DEPLOY_NAMES), st.binary(max_size=200)), min_size=1, max_size=4
    ),
)
def test_check_deploy_never_crashes(tmp_path_factory: Any, files: list[tuple[str, bytes]]) -> None:
    """Garbage in any deploy file: findings and Skipped entries, never an exception."""
    root: Path = tmp_path_factory.mktemp("junk")
    for name, content in files:
        (root / name).write_bytes(
            b"apiVersion: v1\nkind: Pod\n" + content if name == "a.yaml" else content
        )
    result = check_deploy(root, sorted(root.iterdir()), (), None, ProjectConfig())
    assert all(s.reason for s in result.skipped)


def test_dockerfile_names_and_code_about_dockerfiles() -> None:
    names = ["Dockerfile", "Containerfile", "Dockerfile.prod", "api.Dockerfile", "dockerfile"]
    assert all(is_dockerfile_name(n) for n in names)
    not_names = ["dockerfile.py", "Dockerfile.j2", "Dockerfile.md", "dockerfile_test.go", "x"]
    assert not any(is_dockerfile_name(n) for n in not_names)


def test_comments_and_blank_lines_inside_a_continued_run() -> None:
    """Docker skips `#` lines and empty lines inside a continuation: one RUN, next line on."""
    source = (
        "FROM alpine:3.20\n"
        "RUN apk add git \\\n"
        "    # git for go get\n"
        "    && apk add make \\\n"
        "\n"
        "    && make\n"
        'CMD ["/app"]\n'
    )
    (stage,) = parse_dockerfile(source, "Dockerfile").stages
    run, cmd = stage.instructions
    assert (run.keyword, run.line, run.text) == ("RUN", 2, "apk add git && apk add make && make")
    assert (cmd.keyword, cmd.line) == ("CMD", 7)


@given(text)
def test_shell_reader_never_crashes(source: str) -> None:
    """Any text is read into commands with lines inside the text."""
    parsed = parse_shell(source)
    for cmd in parsed.commands:
        assert 1 <= cmd.line <= source.count("\n") + 1


@given(st.lists(st.text("ab ;&|()<>", min_size=1, max_size=8), min_size=1, max_size=4))
def test_quoted_operators_do_not_split_commands(args: list[str]) -> None:
    """`nginx -g 'daemon off;'`: operators inside single quotes are part of one word."""
    quoted = " ".join("'" + a + "'" for a in args)
    parsed = parse_shell(f"migrate up && exec nginx {quoted}")
    assert [c.name for c in parsed.commands] == ["migrate", "exec"]
    assert parsed.commands[-1].words[2:] == tuple(args)
    assert hands_over(f"migrate up && exec nginx {quoted}")


def test_which_shell_runs_sh_c() -> None:
    """The base image tells the shell; unknown images are assumed dash (and say so)."""
    assert image_shell("alpine:3.20", "sh").name == "busybox sh"
    assert image_shell("golang:1.23-alpine", "sh").execs_last
    assert image_shell("debian:12", "sh").name == "dash"
    assert image_shell("python:3.12-slim-bookworm", "bash").name == "bash 5.2"
    assert not image_shell("ubuntu:20.04", "bash").execs_last
    assert image_shell("registry.access.redhat.com/ubi9/ubi-minimal", "sh").name == "bash 5.1"
    unknown = image_shell("registry.example.com/api:1", "sh")
    assert (unknown.name, unknown.assumed) == ("dash", True)
    busybox, dash = image_shell("alpine", "sh"), image_shell("debian", "sh")
    assert not sh_c_swallows("migrate up && /app/api", busybox)
    assert sh_c_swallows("migrate up && /app/api", dash)
    assert sh_c_swallows("/app/api | tee log", busybox)  # a pipeline is not exec'd
    assert sh_c_swallows("/app/api &\nwait", busybox)
    assert not sh_c_swallows("while true; do date; sleep 5; done", dash)  # no server
    assert not sh_c_swallows("trap 'kill $pid' TERM; /app/api & pid=$!; wait", dash)


def test_shell_reader_compounds_functions_and_arithmetic() -> None:
    """`((…))`, case patterns with `|`, and function bodies do not derail the reader."""
    script = (
        "log() { printf '%s\\n' \"$*\"; }\n"
        'case "$x" in *%N|*,) x=0 ;; esac\n'
        "while true; do\n  if (( n >= 3 )); then break; fi\n  sleep 1\ndone\n"
        "log done\n"
    )
    parsed = parse_shell(script)
    assert parsed.functions == {"log"}
    assert [(i.kind, i.line) for i in parsed.items] == [
        ("()", 1),
        ("case", 2),
        ("while", 3),
        ("simple", 7),
    ]
    assert (
        analyze_script(script, "s.sh").runs_server is False
    )  # only utilities and its own function


def test_compose_files_of_a_directory_merge_into_one_project() -> None:
    """compose.yaml + compose.prod.yaml merge; a standalone file stays alone; an override
    without its base is not judged alone."""
    base = parse_compose(
        "services:\n  api:\n    build: .\n    environment: [A=1, B=2]\n", "d/compose.yaml"
    )
    prod = parse_compose(
        "services:\n  api:\n    environment: {B: '3'}\n    mem_limit: 1g\n", "d/compose.prod.yaml"
    )
    other = parse_compose("services:\n  tool:\n    image: t:1\n", "d/docker-compose-tools.yml")
    orphan = parse_compose("services:\n  web:\n    ports: ['80:80']\n", "e/compose.override.yaml")
    projects, notes = merge_projects([base, prod, other, orphan])
    assert [(p.path, p.merged) for p in projects] == [
        ("d/compose.yaml", ("d/compose.prod.yaml",)),
        ("d/docker-compose-tools.yml", ()),
    ]
    (api,) = projects[0].services
    assert api.at.line == 2 and api.at.path == "d/compose.yaml"
    assert api.memory_limit() is not None and api.memory_limit()[1].path == "d/compose.prod.yaml"  # type: ignore[index]
    assert {k: v for k, (v, _) in api.env().items()} == {"A": "1", "B": "3"}
    assert [path for path, _ in notes] == ["e/compose.override.yaml"]


@pytest.mark.parametrize(
    "text",
    [
        "[[ $a != 0 || $b != 0 ]] && exit 1\n",
        "[[ ( -n $x ) && -z $y ]] || exit 1\n",
        "if [[ ${PIPESTATUS[0]} != 0 || ${PIPESTATUS[1]} != 0 ]]; then exit 1; fi\n",
    ],
)
def test_shell_bash_test_is_one_command(text: str) -> None:
    """`||`, `&&` and parentheses inside `[[ … ]]` belong to the test, not new commands."""
    names = [c.name for c in parse_shell(text).commands]
    assert names == ["[[", "exit"]


def test_shell_empty_array_is_not_a_function() -> None:
    """`args=()` assigns an empty array; `start() {…}` defines a function."""
    parsed = parse_shell("args=()\nstart() { server; }\nstart\n")
    assert parsed.functions == frozenset({"start"})
