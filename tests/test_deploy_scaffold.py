"""Tutorial scaffolding: third-party workloads in examples/ and docs/ are not judged; the
project's own workloads there, and everything outside example trees, still are."""

from __future__ import annotations

from killproof.check.scaffold import project_names, scaffolding
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
