"""Tutorial scaffolding: third-party workloads in examples/ and docs/ are not judged; the
project's own workloads there, and everything outside example trees, still are."""

from __future__ import annotations

from pathlib import Path

from killproof.check.deploy import check_deploy
from killproof.check.scaffold import project_names, scaffolding
from killproof.config import ProjectConfig
from killproof.facts.go_program import GoProgram
from killproof.model import Location
from killproof.sources.deploy.manifests import parse_manifests

API = GoProgram("cmd/api", "api", Location("cmd/api/main.go", 1), "github.com/acme/shop")


def _pod(name: str, image: str, command: str = "") -> str:
    cmd = f"\n      command: [{command}]" if command else ""
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n"
        f"    - name: c\n      image: {image}{cmd}\n"
    )


def _left_out(path: str, text: str, programs: tuple[GoProgram, ...] = (API,)) -> list[str]:
    objects = parse_manifests(text, path)
    ids = scaffolding(objects, programs)
    return [o.name for o in objects if id(o) in ids]


def test_project_names_come_from_binaries_dirs_and_module() -> None:
    """Binary, main directory and the module path's repo and owner elements."""
    assert project_names([API]) == {"api", "acme", "shop"}


def test_third_party_example_workloads_are_scaffolding() -> None:
    """nginx and etcd in docs/ are left out; the project's api (by image or command) is not."""
    text = "---\n".join([
        _pod("web", "nginx:1.27"),
        _pod("store", "quay.io/coreos/etcd:v3.5"),
        _pod("own", "ghcr.io/acme/shop-api:1"),
        _pod("by-command", "alpine:3.20", "/usr/bin/api"),
        _pod("templated", "{{ .Values.image }}"),
    ])  # fmt: skip
    assert _left_out("docs/tutorial/app.yaml", text) == ["web", "store"]


def test_outside_example_trees_and_without_programs_everything_is_judged() -> None:
    """deploy/ is production; a repo with no Go program has no way to tell, so keeps all."""
    text = _pod("web", "nginx:1.27")
    assert _left_out("deploy/web.yaml", text) == []
    assert _left_out("examples/web.yaml", text, programs=()) == []
    assert _left_out("examples/web.yaml", text) == ["web"]


def test_binary_names_from_the_repos_dockerfiles_count() -> None:
    """A kubebuilder-style example runs `/manager` from `controller:latest`: the Dockerfile
    builds the repo's program as `manager`, so it is the project, not scaffolding."""
    text = "---\n".join([
        _pod("controller", "controller:latest", "/manager"),
        _pod("web", "nginx:1.27"),
    ])  # fmt: skip
    objects = parse_manifests(text, "docs/install/manager.yaml")
    main = GoProgram("cmd", "cmd", Location("cmd/main.go", 1), "example.com/widget-operator")
    plain = {o.name for o in objects if id(o) in scaffolding(objects, [main])}
    built = {
        o.name for o in objects if id(o) in scaffolding(objects, [main], frozenset({"manager"}))
    }
    assert plain == {"controller", "web"}
    assert built == {"web"}


ROLLER = GoProgram(
    "cmd/roller", "roller", Location("cmd/roller/main.go", 1), "github.com/acme/shop-roller"
)


def test_a_tutorials_demo_app_is_scaffolding() -> None:
    """Images named as the walkthrough's demo app (``<project>-demo``, ``hello-app``,
    ``guestbook``) run no program of this repo, even when they share its words."""
    text = "---\n".join([
        _pod("demo", "acme/roller-demo:blue"),
        _pod("hello", "gcr.io/acme/hello-app:1"),
        _pod("book", "acme/shop-guestbook:v3"),
        _pod("own", "ghcr.io/acme/shop-roller:1"),
        _pod("controller", "acme/roller-controller:1"),
    ])  # fmt: skip
    objects = parse_manifests(text, "docs/getting-started/app.yaml")
    ids = scaffolding(objects, [ROLLER])
    assert [o.name for o in objects if id(o) in ids] == ["demo", "hello", "book"]


def test_a_demo_program_the_repo_builds_is_judged() -> None:
    """``examples/roller-demo/main.go`` is built here: its image is the project's."""
    demo = GoProgram(
        "examples/roller-demo", "roller-demo", Location("examples/roller-demo/main.go", 1),
        "github.com/acme/shop-roller",
    )  # fmt: skip
    objects = parse_manifests(_pod("demo", "acme/roller-demo:blue"), "examples/demo.yaml")
    assert scaffolding(objects, [ROLLER, demo]) == set()


def test_demo_images_outside_example_trees_are_judged() -> None:
    objects = parse_manifests(_pod("demo", "acme/roller-demo:blue"), "deploy/demo.yaml")
    assert scaffolding(objects, [ROLLER]) == set()


def test_check_leaves_out_the_demo_app_but_judges_the_project(tmp_path: Path) -> None:
    """End to end: in docs/getting-started the demo app's missing limit is not reported;
    the project's own Deployment beside it is, at its container line."""
    deploy = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n"
        "  template:\n    spec:\n      containers:\n        - name: c\n"
        "          image: {image}\n"
    )
    path = tmp_path / "docs" / "getting-started" / "app.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        deploy.format(name="demo", image="acme/roller-demo:blue")
        + "---\n"
        + deploy.format(name="roller", image="ghcr.io/acme/shop-roller:1")
    )
    result = check_deploy(tmp_path, [path], [ROLLER], None, ProjectConfig())
    found = {(f.rule, f.location.path, f.location.line) for f in result.findings}
    assert ("KP201", "docs/getting-started/app.yaml", 20) in found
    assert not {line for _, _, line in found if line < 11}
