"""Duplicates and locations: copies of one object are reported once, naming the copies, and
objects built by the kustomize binary get the lines of the files they came from."""

from __future__ import annotations

from pathlib import Path

from killproof.check.copies import merge_copies
from killproof.check.graft import patch_line, place
from killproof.check.run import CheckOptions, run_check
from killproof.model import Evidence, Finding, Location, Severity
from killproof.sources.deploy.manifests import objects_from_docs, parse_manifests
from killproof.sources.deploy.yamltree import dig_pos, load_documents

BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: api:1
          resources:
            limits:
              memory: 512Mi
              cpu: 500m
"""
# `kustomize build overlays/prod` of BASE with namePrefix prod- and the cpu limit patched.
BUILT = BASE.replace("name: api\nspec", "name: prod-api\nspec").replace("500m", "2")


def finding(rule: str, path: str, line: int, subject: str, message: str = "m") -> Finding:
    return Finding(rule, "x", Severity.WARNING, message, Location(path, line, 0, subject))


def test_copies_of_one_object_are_reported_once_naming_the_copies() -> None:
    found = [
        finding("KP211", "release/all.yaml", 665, "Deployment/api container api"),
        finding("KP211", "k8s/api.yaml", 75, "Deployment/api container api"),
        finding(
            "KP211", "kustomize/base/api.yaml", 75, "kustomize/base: Deployment/api container api"
        ),
        finding(
            "KP211", "examples/api.yaml", 9, "example (examples/): Deployment/api container api"
        ),
        finding("KP211", "k8s/worker.yaml", 40, "Deployment/worker container worker"),
        finding("KP211", "k8s/api.yaml", 75, "Deployment/api container api", "another message"),
        finding("KP101", "main.go", 10, ""),
        finding("KP101", "cmd/x/main.go", 10, ""),
    ]
    merged = merge_copies(found)
    assert sorted((f.rule, f.location.path, f.location.line) for f in merged) == [
        ("KP101", "cmd/x/main.go", 10),
        ("KP101", "main.go", 10),
        ("KP211", "k8s/api.yaml", 75),
        ("KP211", "k8s/api.yaml", 75),
        ("KP211", "k8s/worker.yaml", 40),
    ]
    kept = next(f for f in merged if f.location.path == "k8s/api.yaml" and f.message == "m")
    assert kept.evidence == (
        Evidence("same finding in a copy", "release/all.yaml", 665),
        Evidence("same finding in a copy", "kustomize/base/api.yaml", 75),
        Evidence("same finding in a copy", "examples/api.yaml", 9),
    )


def test_binary_built_objects_get_their_base_lines_and_changes_point_at_the_patches() -> None:
    kustomization = "resources: [../../base]\nnamePrefix: prod-\npatches:\n  - path: cpu.yaml\n"
    source = parse_manifests(BASE, "base/api.yaml")
    built = objects_from_docs(
        load_documents(BUILT, "overlays/prod/kustomization.yaml", keep_lines=False), "overlays/prod"
    )
    line = patch_line(load_documents(kustomization, "k")[0])
    assert line == 3
    place(built, source, "overlays/prod/kustomization.yaml", line)
    (obj,) = built
    container = obj.body["spec"]["template"]["spec"]["containers"][0]
    assert dig_pos(container, "resources", "limits", "memory").line == 13  # unchanged: base line
    assert dig_pos(container, "resources", "limits", "memory").path == "base/api.yaml"
    cpu = dig_pos(container, "resources", "limits", "cpu")
    assert (cpu.path, cpu.line) == ("overlays/prod/kustomization.yaml", 3)  # patched
    assert container.pos("name").line == 9


MAIN_GO = """\
package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	srv := &http.Server{Addr: ":8080"}
	go srv.ListenAndServe()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
"""
EXAMPLE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: relay
spec:
  template:
    spec:
      containers:
        - name: relay
          image: ghcr.io/acme/relay-server:1
"""


def test_kp501_in_example_manifests_that_are_copies_of_one_workload(tmp_path: Path) -> None:
    """One Go main, the same example Deployment twice (plain and as a release bundle): the
    copies are one workload, linked to the main, and the 60 s Shutdown deadline past the
    default 30 s grace is reported once, labelled as an example, naming the copy."""
    (tmp_path / "go.mod").write_text("module example.com/relay\n\ngo 1.23\n")
    (tmp_path / "main.go").write_text(MAIN_GO)
    for rel in ("examples/k8s/deployment.yaml", "examples/release/relay.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(EXAMPLE)
    report = run_check([str(tmp_path)], CheckOptions(jobs=1))
    (kp501,) = [f for f in report.findings if f.rule == "KP501"]
    assert (kp501.location.path, kp501.location.line) == ("examples/k8s/deployment.yaml", 9)
    assert kp501.location.subject.startswith("example (examples/): Deployment/relay")
    assert Evidence("same finding in a copy", "examples/release/relay.yaml", 9) in kp501.evidence
