"""kustomize resolved natively: the same objects as `kubectl kustomize`, with the lines of
the files that wrote each value; unsupported features go to the binary; errors are Skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killproof.check.deploy import check_deploy
from killproof.config import ProjectConfig
from killproof.sources.deploy.kustomize import KustomizeError, build
from killproof.sources.deploy.manifests import parse_manifests
from killproof.sources.deploy.yamltree import YMap, dig

REPO = Path(__file__).parent / "fixtures" / "repo_multi"
KUBECTL = shutil.which("kubectl")
KUSTOMIZE = shutil.which("kustomize")


def plain(value: Any) -> Any:
    """YMap/YList → dict/list."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def native(root: Path, d: str) -> dict[tuple[str, str], Any]:
    """Objects of a native build by (kind, name)."""
    result = build(d, lambda p: (root / p).read_text(), lambda p: (root / p).exists())
    return {(o.kind, o.name): o.body for o in result.objects}


def reference(root: Path, d: str) -> dict[tuple[str, str], Any]:
    """Objects `kustomize build` (or `kubectl kustomize`) produces."""
    argv = [KUSTOMIZE, "build", d] if KUSTOMIZE else [str(KUBECTL), "kustomize", d]
    out = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=True).stdout
    return {(o.kind, o.name): plain(o.body) for o in parse_manifests(out, "built")}


@pytest.mark.skipif(KUBECTL is None and KUSTOMIZE is None, reason="needs kubectl or kustomize")
@pytest.mark.parametrize("overlay", ["deploy/overlays/staging", "deploy/overlays/prod"])
def test_native_build_equals_kustomize(overlay: str) -> None:
    """Every object, every field: prefix, namespace, labels into selectors, replicas,
    images, a strategic-merge patch file and an inline JSON 6902 patch."""
    ours = {k: plain(v) for k, v in native(REPO, overlay).items()}
    assert ours == reference(REPO, overlay)


def test_patched_values_carry_the_patch_files_lines() -> None:
    """A value a patch wrote points at the patch; untouched values at the base."""
    objects = native(REPO, "deploy/overlays/prod")
    orders = objects[("Deployment", "orders")]
    container = dig(orders, "spec", "template", "spec", "containers")[0]
    limits = dig(container, "resources", "limits")
    requests = dig(container, "resources", "requests")
    assert limits.pos("memory").path == "deploy/overlays/prod/orders-memory.yaml"
    assert limits.pos("memory").line == 12
    assert requests.pos("memory").path == "deploy/base/orders.yaml"
    payments = objects[("Deployment", "payments")]
    pod = dig(payments, "spec", "template", "spec")
    assert pod["terminationGracePeriodSeconds"] == 45
    # The inline patch's `value:` line inside kustomization.yaml.
    assert (
        pod.pos("terminationGracePeriodSeconds").path == "deploy/overlays/prod/kustomization.yaml"
    )
    assert pod.pos("terminationGracePeriodSeconds").line == 15


def write(root: Path, files: dict[str, str]) -> None:
    """Create a small tree."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


DEPLOY = """\
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
          env:
            - name: A
              value: "1"
            - name: B
              value: "2"
        - name: sidecar
          image: envoy:1
"""


def test_strategic_merge_and_json6902(tmp_path: Path) -> None:
    """Lists merged by name, $patch: delete, null deletes; JSON 6902 add/-/replace/remove."""
    write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [deploy.yaml]\n",
            "base/deploy.yaml": DEPLOY,
            "over/kustomization.yaml": (
                "resources: [../base]\npatchesStrategicMerge: [smp.yaml]\npatchesJson6902:\n"
                "  - target: {kind: Deployment, name: api}\n    path: ops.yaml\n"
            ),
            "over/smp.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n"
                "  template:\n    spec:\n      containers:\n        - name: api\n"
                '          env:\n            - name: B\n              value: "20"\n'
                "            - {name: A, $patch: delete}\n        - name: sidecar\n"
                "          image: null\n"
            ),
            "over/ops.yaml": (
                "- op: add\n  path: /spec/template/spec/containers/0/env/-\n"
                '  value: {name: C, value: "3"}\n'
                "- op: replace\n  path: /spec/template/spec/containers/0/image\n  value: api:2\n"
                "- op: add\n  path: /metadata/annotations\n  value: {a~1b: x}\n"
                "- op: remove\n  path: /spec/template/spec/containers/1\n"
            ),
        },
    )
    objects = native(tmp_path, "over")
    body = plain(objects[("Deployment", "api")])
    [container] = body["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "api:2"
    assert container["env"] == [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]
    assert body["metadata"]["annotations"] == {"a~1b": "x"}
    env = dig(objects[("Deployment", "api")], "spec", "template", "spec", "containers")[0]["env"]
    assert isinstance(env[0], YMap) and env[0].pos("value").path == "over/smp.yaml"
    assert env[0].pos("value").line == 11
    if KUBECTL or KUSTOMIZE:
        assert plain(objects) == reference(tmp_path, "over")


def test_broken_kustomizations_are_skipped_with_lines(tmp_path: Path) -> None:
    """A missing resource and a bad patch path: Skipped entries naming file and line."""
    write(
        tmp_path,
        {
            "a/kustomization.yaml": "resources:\n  - deploy.yaml\n  - missing.yaml\n",
            "a/deploy.yaml": DEPLOY,
            "b/kustomization.yaml": (
                "resources: [deploy.yaml]\npatchesJson6902:\n  - target: {kind: Deployment, name: api}\n"
                "    patch: |-\n      - op: replace\n        path: /spec/nothing/here\n        value: 1\n"
            ),
            "b/deploy.yaml": DEPLOY,
        },
    )
    with pytest.raises(KustomizeError) as missing:
        native(tmp_path, "a")
    assert (missing.value.path, missing.value.line) == ("a/kustomization.yaml", 3)
    result = check_deploy(tmp_path, sorted(tmp_path.rglob("*.yaml")), (), None, ProjectConfig())
    assert {s.what for s in result.skipped} == {"a/kustomization.yaml:3", "b/kustomization.yaml:5"}


COMPONENT_TREE = {
    "app/kustomization.yaml": (
        "resources: [deploy.yaml, cron.yaml]\ncomponents: [../limits, ../metrics]\n"
        "namePrefix: shop-\ncommonLabels: {tier: web}\n"
    ),
    "app/deploy.yaml": DEPLOY,
    "app/cron.yaml": (
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: report\nspec:\n"
        "  schedule: '0 * * * *'\n  jobTemplate:\n    spec:\n      template:\n"
        "        spec:\n          containers: [{name: report, image: report:1}]\n"
    ),
    "limits/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "patches:\n  - path: limits.yaml\n"
    ),
    "limits/limits.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n"
        "  template:\n    spec:\n      containers:\n        - name: api\n"
        "          resources:\n            limits:\n              memory: 256Mi\n"
    ),
    "metrics/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "resources: [svc.yaml]\ncommonAnnotations: {team: shop}\n"
    ),
    "metrics/svc.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api-metrics\n"
        "spec:\n  ports: [{port: 9100}]\n"
    ),
}


@pytest.mark.skipif(KUBECTL is None and KUSTOMIZE is None, reason="needs kubectl or kustomize")
def test_components_build_natively_like_kustomize(tmp_path: Path) -> None:
    """Components add resources and patch what came before them, in order; the
    kustomization's own transformers (namePrefix) then apply to everything."""
    write(tmp_path, COMPONENT_TREE)
    ours = {k: plain(v) for k, v in native(tmp_path, "app").items()}
    assert ours == reference(tmp_path, "app")
    assert set(ours) == {("Deployment", "shop-api"), ("Service", "shop-api-metrics"),
                         ("CronJob", "shop-report")}  # fmt: skip


def test_components_keep_their_files_lines(tmp_path: Path) -> None:
    """A limit a component's patch wrote points at the patch; the component's partial
    objects are not checked as manifests of their own; nothing is skipped."""
    write(tmp_path, COMPONENT_TREE)
    deploy = native(tmp_path, "app")[("Deployment", "shop-api")]
    api = dig(deploy, "spec", "template", "spec", "containers")[0]
    limits = dig(api, "resources", "limits")
    assert (limits.pos("memory").path, limits.pos("memory").line) == ("limits/limits.yaml", 12)
    result = check_deploy(tmp_path, sorted(tmp_path.rglob("*.yaml")), (), None, ProjectConfig())
    assert result.skipped == ()
    found = {(f.rule, f.location.path, f.location.line) for f in result.findings}
    assert ("KP201", "app/deploy.yaml", 16) in found  # the sidecar has no memory limit
    assert ("KP201", "app/deploy.yaml", 9) not in found  # the component gave api one
    assert ("KP204", "limits/limits.yaml", 10) in found  # resources written by the patch
    assert all(
        f.location.subject.startswith(("app: Deployment/shop-api ", "app: CronJob/shop-report "))
        for f in result.findings
    )


def test_a_component_listed_as_a_resource_or_a_resource_as_a_component(tmp_path: Path) -> None:
    write(tmp_path, {**COMPONENT_TREE, "app/kustomization.yaml": "components: [../other]\n",
                     "other/kustomization.yaml": "resources: []\n"})  # fmt: skip
    with pytest.raises(KustomizeError) as err:
        native(tmp_path, "app")
    assert "not Component" in err.value.message
    assert err.value.path == "other/kustomization.yaml"


@pytest.mark.skipif(KUBECTL is None and KUSTOMIZE is None, reason="needs kubectl or kustomize")
def test_unsupported_features_use_the_binary(tmp_path: Path) -> None:
    """`replacements:` is not resolved natively: the binary builds it, and its objects get
    the lines of the file they came from (the fields it did not change)."""
    write(
        tmp_path,
        {
            "app/kustomization.yaml": (
                "resources: [deploy.yaml]\nreplacements:\n  - source: {kind: Deployment, "
                "name: api, fieldPath: metadata.name}\n    targets:\n      - select: "
                "{kind: Deployment}\n        fieldPaths: [metadata.annotations.owner]\n"
                "        options: {create: true}\n"
            ),
            "app/deploy.yaml": DEPLOY,
        },
    )
    result = check_deploy(tmp_path, sorted(tmp_path.rglob("*.yaml")), (), None, ProjectConfig())
    assert result.skipped == ()
    found = {(f.rule, f.location.path, f.location.line) for f in result.findings}
    assert ("KP201", "app/deploy.yaml", 9) in found
    assert all(
        f.location.path == "app/deploy.yaml" and f.location.line > 0 for f in result.findings
    )


json_pointer = st.lists(
    st.sampled_from(
        ["spec", "template", "metadata", "containers", "0", "1", "-", "env", "a~1b", "x"]
    ),
    min_size=0,
    max_size=6,
).map(lambda parts: "/" + "/".join(parts))
patch_op = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "replace", "remove", "move", "copy", "test", "frob"]),
        "path": json_pointer,
        "value": st.one_of(st.integers(), st.text(max_size=5), st.just({"k": "v"}), st.just([1])),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(patch_op, max_size=4),
    st.sampled_from(["Deployment", "Pod", "Service"]),
    st.lists(st.sampled_from(["deploy.yaml", "../x", "nope.yaml", "https://e.com/r"]), max_size=3),
)
def test_random_kustomizations_raise_only_kustomize_errors(
    ops: list[dict[str, object]], kind: str, resources: list[str]
) -> None:
    """Any resources list and any JSON 6902 ops: objects, or a KustomizeError with a place."""
    files = {
        "k/deploy.yaml": DEPLOY,
        "k/kustomization.yaml": json.dumps(
            {
                "resources": resources or ["deploy.yaml"],
                "patches": [{"target": {"kind": kind, "name": "api"}, "patch": json.dumps(ops)}],
                "namePrefix": "p-",
                "commonLabels": {"a": "b"},
                "replicas": [{"name": "api", "count": 2}],
            }
        ),
    }

    def read(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]

    try:
        build("k", read, lambda p: p in files or p == "k")
    except KustomizeError as exc:
        assert exc.path.startswith("k") and exc.message
