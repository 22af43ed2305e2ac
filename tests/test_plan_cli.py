"""``killproof plan`` end to end on real drill reports: JSON contract, refusal, alert rules
(checked and unit-tested by promtool), the kustomize patch (built natively and by kubectl),
and the in-place manifest edit (every other line byte-identical)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from killproof import cli
from killproof.sources.deploy.kustomize import build
from killproof.sources.deploy.manifests import parse_manifests
from killproof.sources.deploy.yamltree import dig

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "plan"
FIXED = FIXTURES / "drill-orders-fixed.json"
OOM = FIXTURES / "drill-orders-oom.json"
NOCPU = FIXTURES / "drill-orders-fixed-nocpu.json"
FIXED_MANIFEST = ROOT / "examples" / "orders-fixed" / "deploy" / "deployment.yaml"
ORDERS_MANIFEST = ROOT / "examples" / "orders" / "deploy" / "deployment.yaml"
PROMTOOL = shutil.which("promtool")
KUBECTL = shutil.which("kubectl")
MI = 1 << 20


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and standard output of ``killproof ARGV``."""
    code = cli.main(argv)
    return code, capsys.readouterr().out


def sh(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a tool; the caller judges its exit status."""
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)


def copy_manifest(tmp_path: Path, source: Path = FIXED_MANIFEST) -> Path:
    """The manifest under tmp_path/deploy/ (plus a go.mod, as the example has), so paths in
    the outputs do not depend on where the repository is checked out."""
    (tmp_path / "deploy").mkdir(exist_ok=True)
    shutil.copy(source.parent.parent / "go.mod", tmp_path / "go.mod")
    return Path(shutil.copy(source, tmp_path / "deploy" / "deployment.yaml"))


def by_setting(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The JSON recommendations keyed by setting."""
    return {r["setting"]: r for r in report["recommendations"]}


def expected_limit(drill: Path) -> str:
    """The killproof memory limit worked out from the report by hand: ceil_Mi(peak×1.15/0.9)."""
    data = json.loads(drill.read_text())
    peak = max(s["cgroup_usage_bytes"] or 0 for s in data["samples"])
    return f"{math.ceil(peak * 1.15 / 0.9 / MI)}Mi"


def test_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = copy_manifest(tmp_path)
    code, out = run(["plan", str(FIXED), "--manifest", str(manifest), "--format", "json",
                     "--target-rps", "1000"], capsys)  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["schema_version"] and report["command"] == "plan"
    for r in report["recommendations"]:
        assert {"setting", "current", "recommended", "formula", "inputs"} <= set(r)
    recs = by_setting(report)
    limit = recs["resources.limits.memory"]
    assert limit["current"] == "128Mi"  # from the manifest
    assert limit["recommended"] == expected_limit(FIXED)
    assert limit["inputs"]["peak_bytes"] == max(
        s["cgroup_usage_bytes"] or 0 for s in json.loads(FIXED.read_text())["samples"]
    )
    assert recs["env.GOMEMLIMIT"]["current"] == "115MiB"
    assert recs["env.GOMAXPROCS"]["recommended"] == "unset"  # go.mod says go 1.25
    assert recs["terminationGracePeriodSeconds"]["recommended"] == "30"
    # 200 req/s held per instance; ceil(1000 / 140) = 8 replicas.
    assert recs["replicas"] == {**recs["replicas"], "current": "2", "recommended": "8"}
    assert report["workload"]["kind"] == "Deployment" and report["refused"] is None


def test_leaking_service_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = copy_manifest(tmp_path, ORDERS_MANIFEST)
    code, out = run(["plan", str(OOM), "--manifest", str(manifest)], capsys)
    assert code == 1
    head = out.splitlines()[0]
    assert head.startswith("plan: memory NOT sized for orders: memory grows")
    assert "OOM-killed at 64.0 MiB" in head
    assert "main.storeResponse examples/orders/cache.go:21" in head and "KP602" in head
    code, out = run(["plan", str(OOM), "--format", "json", "--fail-on", "none"], capsys)
    assert code == 0  # --fail-on none: report, never fail
    recs = by_setting(json.loads(out))
    assert recs["resources.limits.memory"]["recommended"] is None
    assert recs["env.GOMEMLIMIT"]["recommended"] is None
    assert recs["resources.requests.cpu"]["recommended"] is not None


def test_markdown_and_old_reports(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["plan", str(NOCPU), "--format", "markdown"], capsys)
    assert code == 1  # the 10 s steps end while the bounded cache still grows: a leak
    assert "| resources.requests.cpu | - | not measured |" in out
    assert "no CPU samples" in out


def test_not_a_drill_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "check.json"
    other.write_text(json.dumps({"schema_version": "1.0", "command": "check"}))
    assert cli.main(["plan", str(other)]) == 2
    assert "not a drill report (command 'check')" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["rules", "prometheusrule"])
def test_alert_rules_golden_and_promtool_check(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], golden: Any
) -> None:
    manifest = copy_manifest(tmp_path)
    out = tmp_path / "alerts.yaml"
    code, _ = run(["plan", str(FIXED), "--manifest", str(manifest), "--alerts-out", str(out),
                   "--alerts-format", fmt], capsys)  # fmt: skip
    assert code == 0
    text = out.read_text()
    golden(f"plan-alerts-{fmt}.yaml", text)
    doc = YAML(typ="safe").load(text)
    groups = doc["groups"] if fmt == "rules" else doc["spec"]["groups"]
    names = [r["alert"] for g in groups for r in g["rules"]]
    assert names == ["OrdersMemoryNearLimit", "OrdersMemoryLimitIn1h", "OrdersGoroutinesGrowing",
                     "OrdersLatencyOverSLO", "OrdersOOMKilled", "OrdersGCCPUHigh"]  # fmt: skip
    if fmt == "prometheusrule":
        assert doc["kind"] == "PrometheusRule"
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    if PROMTOOL is None:
        pytest.skip("promtool not installed (Debian package prometheus; .ci/run installs it)")
    plain = tmp_path / "groups.yaml"
    buf = YAML(typ="safe")
    buf.dump({"groups": groups}, plain)
    check = sh([PROMTOOL, "check", "rules", str(plain)], tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 6 rules found" in check.stdout


PROMTOOL_TEST = """\
rule_files: [alerts.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # 50 MiB for 10 minutes, then 90 MiB (88 % of the 100 MiB limit).
      - series: 'container_memory_working_set_bytes{namespace="shop",pod="orders-1",container="orders"}'
        values: '52428800x10 94371840x20'
      - series: 'kube_pod_container_resource_limits{namespace="shop",pod="orders-1",container="orders",resource="memory"}'
        values: '104857600x30'
    alert_rule_test:
      - eval_time: 10m
        alertname: OrdersMemoryNearLimit
        exp_alerts: []
      - eval_time: 15m
        alertname: OrdersMemoryNearLimit
        exp_alerts: []
      - eval_time: 16m
        alertname: OrdersMemoryNearLimit
        exp_alerts:
          - exp_labels:
              severity: warning
              service: orders
              source: killproof-plan
              namespace: shop
              pod: orders-1
              container: orders
            exp_annotations:
              summary: orders uses more than 85% of its memory limit
"""


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_memory_alert_fires_on_a_crossing_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The working set crosses 85 % of the limit at 11m; with ``for: 5m`` the alert is
    pending at 15m and firing at 16m (promtool evaluates the rules we wrote)."""
    manifest = copy_manifest(tmp_path)
    run(["plan", str(FIXED), "--manifest", str(manifest),
         "--alerts-out", str(tmp_path / "alerts.yaml")], capsys)  # fmt: skip
    (tmp_path / "test.yaml").write_text(PROMTOOL_TEST)
    result = sh([str(PROMTOOL), "test", "rules", "test.yaml"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # The same test fails against a copy whose threshold is 95 %: it does test the rule.
    rules = (tmp_path / "alerts.yaml").read_text().replace("> 0.85", "> 0.95", 1)
    (tmp_path / "alerts.yaml").write_text(rules)
    result = sh([str(PROMTOOL), "test", "rules", "test.yaml"], tmp_path)
    assert result.returncode != 0


def _container(objects: dict[tuple[str, str], Any]) -> Any:
    spec = dig(objects[("Deployment", "orders")], "spec", "template", "spec")
    return next(c for c in spec["containers"] if c["name"] == "orders")


def test_write_patch_golden_and_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], golden: Any
) -> None:
    manifest = copy_manifest(tmp_path)
    code, out = run(["plan", str(FIXED), "--manifest", str(manifest), "--format", "json",
                     "--target-rps", "1000", "--write-patch", str(tmp_path / "patch")], capsys)  # fmt: skip
    assert code == 0
    recs = by_setting(json.loads(out))
    for name in ("kustomization.yaml", "patch.yaml", "hpa.yaml"):
        golden(f"plan-patch-{name}", (tmp_path / "patch" / name).read_text())
    built = build("patch", lambda p: (tmp_path / p).read_text(), lambda p: (tmp_path / p).exists())
    objects = {(o.kind, o.name): o.body for o in built.objects}
    c = _container(objects)
    want_mem = recs["resources.limits.memory"]["recommended"]
    assert dig(c, "resources", "limits", "memory") == want_mem == expected_limit(FIXED)
    assert dig(c, "resources", "requests", "memory") == want_mem
    assert dig(c, "resources", "requests", "cpu") == recs["resources.requests.cpu"]["recommended"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["GOMEMLIMIT"] == recs["env.GOMEMLIMIT"]["recommended"]
    assert env["DRAIN_DELAY"] == "5s"  # the rest of the env is kept
    assert dig(objects[("Deployment", "orders")], "spec", "replicas") == 8
    assert dig(objects[("HorizontalPodAutoscaler", "orders")], "spec", "maxReplicas") == 16
    if KUBECTL is None:
        return
    argv = [KUBECTL, "kustomize", "--load-restrictor", "LoadRestrictionsNone", "patch"]
    text = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    by_kind = {(o.kind, o.name): o.body for o in parse_manifests(text, "built")}
    c = _container(by_kind)
    assert dig(c, "resources", "limits", "memory") == want_mem
    assert {e["name"]: e.get("value") for e in c["env"]}["GOMEMLIMIT"] == env["GOMEMLIMIT"]


def test_in_place_changes_only_the_recommended_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = copy_manifest(tmp_path)
    before = manifest.read_text()
    code, out = run(["plan", str(FIXED), "--manifest", str(manifest), "--format", "json",
                     "--target-rps", "1000", "--in-place"], capsys)  # fmt: skip
    assert code == 0
    recs = by_setting(json.loads(out))
    after = manifest.read_text()
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)  # every value to change already had a line
    changed = {i: (a, b) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b}
    mem = recs["resources.limits.memory"]["recommended"]
    cpu = recs["resources.requests.cpu"]["recommended"]
    gomem = recs["env.GOMEMLIMIT"]["recommended"]
    # (ruamel keeps a trailing comment in its column: a shorter value adds a space before it)
    assert sorted(" ".join(b.split()) for a, b in changed.values()) == sorted(
        ["replicas: 8", f"cpu: {cpu}", f"memory: {mem}", f"memory: {mem}",
         f'value: "{gomem}" # 90 % of the 128Mi limit: the GC works harder before the kernel kills']
    )  # fmt: skip
    for a, b in changed.values():  # the same indentation, only the value differs
        assert a[: len(a) - len(a.lstrip())] == b[: len(b) - len(b.lstrip())]
        assert a.split(":")[0] == b.split(":")[0]


def test_in_place_inserts_missing_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """orders' manifest (Go 1.22, a 500m CPU limit) gets GOMEMLIMIT and GOMAXPROCS added:
    every original line is still there, in order, byte for byte."""
    manifest = copy_manifest(tmp_path, ORDERS_MANIFEST)
    before = manifest.read_text().splitlines(keepends=True)
    code, out = run(["plan", str(FIXED), "--manifest", str(manifest), "--format", "json",
                     "--in-place"], capsys)  # fmt: skip
    assert code == 0
    recs = by_setting(json.loads(out))
    assert recs["env.GOMAXPROCS"]["recommended"] == "1"  # floor(0.5) → at least 1
    after = manifest.read_text().splitlines(keepends=True)
    values = {"memory:", "cpu:"}
    kept = [line for line in before if not any(v in line for v in values)]
    remaining = iter(after)
    assert all(any(line == other for other in remaining) for line in kept)  # a subsequence
    assert len(after) > len(before)
    objects = parse_manifests("".join(after), "edited")
    body = next(o.body for o in objects if o.kind == "Deployment")
    c = dig(body, "spec", "template", "spec", "containers")[0]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["GOMEMLIMIT"] == recs["env.GOMEMLIMIT"]["recommended"]
    assert env["GOMAXPROCS"] == "1" and env["PORT"] == "8080"
    assert dig(c, "resources", "limits", "memory") == recs["resources.limits.memory"]["recommended"]


def test_patch_needs_a_manifest(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["plan", str(FIXED), "--write-patch", str(tmp_path / "p")]) == 2
    assert "need --manifest" in capsys.readouterr().err


KUBECTL_STYLE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders   # kubectl's own layout: sequences not indented
spec:
  template:
    spec:
      containers:
      - env:
        - name: GOMEMLIMIT
          value: 115MiB
        image: orders:1
        name: orders
        resources:
          limits:
            memory: 128Mi
          requests:
            cpu: 250m
            memory: 128Mi
"""


def test_in_place_keeps_kubectl_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(KUBECTL_STYLE)
    code, out = run(["plan", str(FIXED), "--manifest", str(manifest), "--format", "json",
                     "--in-place"], capsys)  # fmt: skip
    assert code == 0
    recs = by_setting(json.loads(out))
    mem = recs["resources.limits.memory"]["recommended"]
    expected = (
        KUBECTL_STYLE.replace("value: 115MiB", f"value: {recs['env.GOMEMLIMIT']['recommended']}")
        .replace("cpu: 250m", f"cpu: {recs['resources.requests.cpu']['recommended']}")
        .replace("memory: 128Mi", f"memory: {mem}")
    )
    # The drill's service stopped serving < 5 s after it turned unready: a preStop sleep is
    # added in the file's own indentation (the default 30 s grace is enough: not written).
    expected += (
        "        lifecycle:\n          preStop:\n            sleep:\n              seconds: 5\n"
    )
    assert manifest.read_text() == expected


@pytest.mark.parametrize("fmt", ["json", "text", "markdown"])
def test_plan_report_goldens(
    fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, golden: Any
) -> None:
    """The whole report in each format (paths relative to the repository root)."""
    monkeypatch.chdir(ROOT)
    code, out = run(["plan", "tests/fixtures/plan/drill-orders-fixed.json", "--manifest",
                     "examples/orders-fixed/deploy/deployment.yaml", "--target-rps", "1000",
                     "--format", fmt], capsys)  # fmt: skip
    assert code == 0
    golden(f"plan-orders-fixed.{fmt}", out)


def test_several_reports_combine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two drills: the higher peak sizes memory, the lower held rate sizes replicas (the
    rate every run held), and both reports are listed as inputs."""
    data = json.loads(FIXED.read_text())
    peak = max(s["cgroup_usage_bytes"] or 0 for s in data["samples"])
    data["samples"][-5]["cgroup_usage_bytes"] = peak + 10 * MI
    data["capacity"]["held_rate_rps"] = 100.0
    other = tmp_path / "second.json"
    other.write_text(json.dumps(data))
    code, out = run(["plan", str(FIXED), str(other), "--format", "json", "--target-rps", "1000"],
                    capsys)  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["drill_reports"] == [str(FIXED), str(other)]
    recs = by_setting(report)
    assert recs["resources.limits.memory"]["inputs"]["peak_bytes"] == peak + 10 * MI
    assert recs["resources.limits.memory"]["recommended"] == (
        f"{math.ceil((peak + 10 * MI) * 1.15 / 0.9 / MI)}Mi"
    )
    # ceil(1000 / (0.7 × 100)) = 15 replicas.
    assert recs["replicas"]["recommended"] == "15"


def test_strategy_and_cpu_limit_options(capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(FIXED.read_text())
    peak = max(s["cgroup_usage_bytes"] or 0 for s in data["samples"])
    code, out = run(["plan", str(FIXED), "--strategy", "krr", "--cpu-limit", "--format", "json"],
                    capsys)  # fmt: skip
    report = json.loads(out)
    recs = by_setting(report)
    assert code == 0 and report["strategy"] == "krr"
    # krr: max(ceil_Mi(peak × 1.15), 100Mi); this service peaks far below 100 Mi.
    assert peak * 1.15 < 100 * MI
    assert recs["resources.limits.memory"]["recommended"] == "100Mi"
    assert recs["resources.limits.cpu"]["formula"].startswith("limit = max(ceil_m(")
    code, out = run(["plan", str(FIXED), "--format", "json"], capsys)
    assert "resources.limits.cpu" not in by_setting(json.loads(out))


def test_gomaxprocs_removed_on_go_125(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Go 1.25 follows the CPU limit unless GOMAXPROCS is set: plan removes a literal one,
    in place (its two lines, nothing else) and in the patch (``$patch: delete``)."""
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.25\n")
    manifest = tmp_path / "deploy.yaml"
    with_env = KUBECTL_STYLE.replace(
        "        - name: GOMEMLIMIT\n", "        - name: GOMAXPROCS\n          value: \"4\"\n"
        "        - name: GOMEMLIMIT\n"
    )  # fmt: skip
    manifest.write_text(with_env)
    code, out = run(["plan", str(FIXED), "--manifest", str(manifest), "--format", "json",
                     "--write-patch", str(tmp_path / "patch")], capsys)  # fmt: skip
    assert code == 0
    recs = by_setting(json.loads(out))
    assert recs["env.GOMAXPROCS"]["current"] == "4"
    assert recs["env.GOMAXPROCS"]["recommended"] == "unset"
    built = build("patch", lambda p: (tmp_path / p).read_text(), lambda p: (tmp_path / p).exists())
    c = _container({(o.kind, o.name): o.body for o in built.objects})
    assert [e["name"] for e in c["env"]] == ["GOMEMLIMIT"]
    run(["plan", str(FIXED), "--manifest", str(manifest), "--in-place"], capsys)
    edited = manifest.read_text()
    assert "GOMAXPROCS" not in edited
    assert edited.startswith(with_env.split("        - name: GOMAXPROCS")[0])
    assert "        - name: GOMEMLIMIT\n          value: " in edited
