"""Linking launches to Go programs, `.killproof.yaml`, and the suppression mechanisms."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.check.deploy import check_deploy
from killproof.check.launch import compose_launches, k8s_launches, systemd_launch
from killproof.check.link import link_dockerfiles, link_launches
from killproof.config import IgnoreEntry, ProjectConfig, load_project_config, parse_project_config
from killproof.errors import InputError
from killproof.facts.deploy import LinkedLaunch
from killproof.facts.go_program import GoProgram
from killproof.model import Location, Severity
from killproof.sources.deploy.compose import parse_compose
from killproof.sources.deploy.dockerfile import parse_dockerfile
from killproof.sources.deploy.entrypoint import analyze_script
from killproof.sources.deploy.manifests import ManifestSet, parse_manifests
from killproof.sources.deploy.systemd_unit import parse_unit


def program(d: str, **kw: object) -> GoProgram:
    """A Go program fact as the Go side would produce it."""
    name = d.rsplit("/", 1)[-1]
    return GoProgram(dir=d, binary_name=name, location=Location(f"{d}/main.go", 1), **kw)  # type: ignore[arg-type]


API, WORKER = program("cmd/api"), program("cmd/worker")

PODS = """\
apiVersion: v1
kind: Pod
metadata: {name: by-command}
spec:
  containers:
    - {name: c, image: "whatever:1", command: [/usr/local/bin/worker, --queue, q]}
---
apiVersion: v1
kind: Pod
metadata: {name: by-image}
spec:
  containers:
    - {name: c, image: "ghcr.io/acme/api:2.1@sha256:abc"}
---
apiVersion: v1
kind: Pod
metadata: {name: by-exec-in-shell}
spec:
  containers:
    - {name: c, image: "x:1", command: [sh, -c, "setup && exec /app/worker"]}
---
apiVersion: v1
kind: Pod
metadata: {name: third-party}
spec:
  containers:
    - {name: envoy, image: "envoyproxy/envoy:v1.31"}
"""


def linked_by_name(links: list[LinkedLaunch]) -> dict[str, str | None]:
    """Workload name → program dir (None when unlinked)."""
    out = {}
    for x in links:
        assert x.launch.container is not None
        out[x.launch.container.workload.obj.name] = x.program.dir if x.program else None
    return out


def test_links_by_command_image_and_exec() -> None:
    """argv[0], the exec'd command of `sh -c`, and the image's last path element."""
    launches = list(k8s_launches(ManifestSet.of(parse_manifests(PODS, "p.yaml"))))
    links = linked_by_name(link_launches(launches, [API, WORKER], [], {}))
    assert links == {
        "by-command": "cmd/worker",
        "by-image": "cmd/api",
        "by-exec-in-shell": "cmd/worker",
        "third-party": None,
    }


def test_pairs_win_and_one_main_one_workload_links_alone() -> None:
    """`.killproof.yaml` pairs name the program; a lone program and workload pair up."""
    launches = list(k8s_launches(ManifestSet.of(parse_manifests(PODS, "p.yaml"))))
    links = linked_by_name(link_launches(launches, [API, WORKER], [], {"third-party": "cmd/api"}))
    assert links["third-party"] == "cmd/api"
    [lone] = list(k8s_launches(ManifestSet.of(parse_manifests(PODS.split("---")[3], "p.yaml"))))
    [result] = link_launches([lone], [API], [], {})
    assert result.program == API and result.how == "only Go main, only workload"
    # With two programs nothing is guessed.
    [result] = link_launches([lone], [API, WORKER], [], {})
    assert result.program is None


def test_dockerfile_compose_and_unit_links() -> None:
    """`go build -o`, the package path, compose build contexts and ExecStart."""
    df = parse_dockerfile(
        "FROM golang:1.23 AS b\nRUN go build -o /out/svc ./cmd/worker\n"
        'FROM scratch\nCOPY --from=b /out/svc /svc\nENTRYPOINT ["/svc"]\n',
        "build/worker.Dockerfile",
    )
    [linked_df] = link_dockerfiles([df], [API, WORKER])
    assert linked_df.program == WORKER
    compose = parse_compose(
        "services:\n  w:\n    build: {context: .., dockerfile: build/worker.Dockerfile}\n"
        "  a:\n    build: ../cmd/api\n",
        "deploy/compose.yaml",
    )
    unit = parse_unit("[Service]\nExecStart=-/opt/api/bin/api --port 80\n", "api.service")
    launches = [*compose_launches(compose), systemd_launch(unit)]
    links = link_launches([x for x in launches if x], [API, WORKER], [linked_df], {})
    assert [(x.launch.subject, x.program.dir if x.program else None) for x in links] == [
        ("service w", "cmd/worker"),
        ("service a", "cmd/api"),
        ("unit api.service", "cmd/api"),
    ]
    assert links[0].dockerfile is df


def test_config_file_and_errors(tmp_path: Path) -> None:
    """All four sections, and a one-line error naming file and line for each mistake."""
    cfg = parse_project_config(
        "ignore:\n  - KP214\n  - {rule: KP201, paths: ['deploy/jobs/*']}\n"
        "severity: {KP303: error}\nthresholds: {overcommit_ratio: 4}\n"
        "pairs:\n  - {program: cmd/api, deploy: api}\n",
        ".killproof.yaml",
    )
    assert cfg.ignore == (IgnoreEntry("KP214"), IgnoreEntry("KP201", ("deploy/jobs/*",)))
    assert cfg.ignores("KP201", "deploy/jobs/nightly.yaml")
    assert not cfg.ignores("KP201", "deploy/api.yaml")
    assert cfg.severity == {"KP303": Severity.ERROR}
    assert cfg.thresholds == {"overcommit_ratio": 4.0} and cfg.pairs == {"api": "cmd/api"}
    for text, line in [
        ("ignore: [KP2O1]\n", 1),
        ("severity:\n  KP201: fatal\n", 2),
        ("thresholds:\n  ratio: 2\n", 2),
        ("thresholds:\n  overcommit_ratio: -1\n", 2),
        ("pairs:\n  - {program: cmd/api}\n", 2),
        ("colour: blue\n", 1),
    ]:
        with pytest.raises(InputError) as err:
            parse_project_config(text, ".killproof.yaml")
        assert (err.value.path, err.value.line) == (".killproof.yaml", line), text
    assert load_project_config(tmp_path) == ProjectConfig()


SUPPRESSED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: quiet
  annotations:
    killproof.dev/ignore: "KP202, KP204"
spec:
  template:
    spec:
      containers:
        - name: app # killproof:ignore KP201 limits come from the namespace quota controller
          image: app:1
---
apiVersion: v1
kind: Pod
metadata:
  name: loud
spec:
  containers:
    # killproof:ignore KP201
    - name: app
      image: app:1
"""


def test_suppressions(tmp_path: Path) -> None:
    """Annotation and inline comment silence; an own-line comment without a reason still
    silences its line but is itself reported as KP100."""
    (tmp_path / "app.yaml").write_text(SUPPRESSED)
    result = check_deploy(tmp_path, [tmp_path / "app.yaml"], (), None, ProjectConfig())
    got = {(f.rule, f.location.line) for f in result.findings}
    assert got == {("KP100", 20), ("KP202", 21), ("KP204", 21)}


def test_dockerfile_copy_of_a_prebuilt_binary_links() -> None:
    """`COPY dist/worker /usr/local/bin/svc` names the program by the file it copies."""
    df = parse_dockerfile(
        "FROM alpine:3.20\nCOPY --chown=1000 dist/worker /usr/local/bin/svc\n"
        'ENTRYPOINT ["/usr/local/bin/svc"]\n',
        "images/Dockerfile",
    )
    [linked] = link_dockerfiles([df], [API, WORKER])
    assert linked.program == WORKER


def test_a_workload_is_linked_by_what_it_runs_not_only_its_image() -> None:
    """Same image as the api, but a script, another binary or a loop runs: no link."""
    manifests = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      containers: [{name: api, image: "ghcr.io/acme/api:2", args: ["--port=80"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: script}
spec:
  containers: [{name: c, image: "ghcr.io/acme/api:2", command: [/bin/sh, /scripts/gc.sh]}]
---
apiVersion: v1
kind: Pod
metadata: {name: other-binary}
spec:
  containers: [{name: c, image: "ghcr.io/acme/api:2", command: [/usr/bin/migrate]}]
---
apiVersion: v1
kind: Pod
metadata: {name: wrapped}
spec:
  containers: [{name: c, image: "ghcr.io/acme/api:2", command: [/entrypoint.sh, /app/api]}]
"""
    scripts = {
        "scripts/gc.sh": analyze_script("#!/bin/sh\nfind /tmp -delete\necho done\n", "gc.sh"),
        "entrypoint.sh": analyze_script('#!/bin/sh\nset -e\nexec "$@"\n', "entrypoint.sh"),
    }
    launches = list(k8s_launches(ManifestSet.of(parse_manifests(manifests, "p.yaml"))))
    links = linked_by_name(link_launches(launches, [API, WORKER], [], {}, scripts))
    assert links == {"api": "cmd/api", "script": None, "other-binary": None, "wrapped": "cmd/api"}


def test_copies_of_one_workload_pair_with_the_lone_program() -> None:
    """A release bundle and an example holding the same Deployment are one workload."""
    text = PODS.split("---")[3]
    copies = [
        *k8s_launches(ManifestSet.of(parse_manifests(text, "deploy/release.yaml"))),
        *k8s_launches(ManifestSet.of(parse_manifests(text, "examples/k8s/pod.yaml"))),
    ]
    links = link_launches(copies, [API], [], {})
    assert [x.program for x in links] == [API, API]
    other = parse_manifests(text.replace("third-party", "redis"), "deploy/redis.yaml")
    links = link_launches([*copies, *k8s_launches(ManifestSet.of(other))], [API], [], {})
    assert [x.program for x in links] == [None, None, None]
