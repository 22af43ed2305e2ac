"""``drill PATH``: the checker's link from a Go main to the launch that runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.drill.linked import plan_path
from killproof.drill.settings import DrillOptions
from killproof.drill.setup import build_config
from killproof.drill.workload import dockerfile_stop_signal
from killproof.errors import InputError

MAIN_GO = """\
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/orders", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	_ = http.ListenAndServe(":"+os.Getenv("HTTP_PORT"), nil)
}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      terminationGracePeriodSeconds: 20
      containers:
        - name: shop
          image: registry.example.com/shop:1.0
          env:
            - name: GOMEMLIMIT
              value: "57MiB"
            - name: SECRET
              valueFrom: {secretKeyRef: {name: s, key: k}}
          ports: [{containerPort: 8080}]
          resources: {limits: {memory: 64Mi, cpu: 500m}}
          readinessProbe: {httpGet: {path: /readyz, port: 8080}}
          startupProbe:
            {httpGet: {path: /readyz, port: 8080}, periodSeconds: 2, failureThreshold: 5}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
"""


def repo(tmp_path: Path, deployment: str = DEPLOYMENT) -> Path:
    root = tmp_path / "shop"
    (root / "deploy").mkdir(parents=True)
    (root / "go.mod").write_text("module example.com/shop\n\ngo 1.22\n")
    (root / "main.go").write_text(MAIN_GO)
    (root / "deploy" / "deployment.yaml").write_text(deployment)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY shop /shop\nSTOPSIGNAL SIGINT\n")
    return root


def test_the_launch_of_the_main_gives_limit_env_probes_grace(tmp_path: Path) -> None:
    plan, hints = plan_path(repo(tmp_path))
    assert plan.main_dir == (tmp_path / "shop").resolve()
    w = plan.workload
    assert w is not None
    assert (w.path, w.line) == ("deploy/deployment.yaml", 12)
    assert (w.memory_bytes, w.cpus, w.port) == (64 << 20, 0.5, 8080)
    assert dict(w.env) == {"GOMEMLIMIT": "57MiB"}
    assert (w.ready_path, w.startup_budget_s) == ("/readyz", 10.0)
    assert (w.grace_s, w.prestop_s) == (20.0, 5.0)
    assert plan.stop_signal == "SIGINT"
    assert hints.port_envs == frozenset({"HTTP_PORT"})
    assert hints.request_path == "/orders"


def test_config_from_the_repo_and_flags_that_override_it(tmp_path: Path) -> None:
    root = repo(tmp_path)
    opts = DrillOptions(target=(str(root),), port=18993)
    config, notes = build_config(opts, tmp_path / "work")
    assert Path(config.command[0]).is_file()  # built with the local go
    assert (config.memory_bytes, config.cpus) == (64 << 20, 0.5)
    assert config.env["HTTP_PORT"] == "18993" and config.env["GOMEMLIMIT"] == "57MiB"
    assert (config.ready.path, config.ready.port) == ("/readyz", 18993)
    assert config.grace_s == 15.0  # 20 s grace minus 5 s preStop
    assert config.stop_signal.name == "SIGINT"
    assert config.max_startup_s == 10.0
    assert config.requests.templates[0].path == "/orders"
    assert any("deploy/deployment.yaml:12" in n for n in notes)
    over, _ = build_config(
        DrillOptions(target=(str(root),), port=18993, memory="32Mi", grace="3s"), tmp_path / "w2"
    )
    assert (over.memory_bytes, over.grace_s) == (32 << 20, 3.0)


def test_no_go_main_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "x.go").write_text("package lib\n")
    with pytest.raises(InputError, match="no Go main"):
        plan_path(tmp_path)


def test_dockerfile_stopsignal_last_wins(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM a\nSTOPSIGNAL SIGTERM\nFROM b\nSTOPSIGNAL SIGINT\n")
    assert dockerfile_stop_signal(tmp_path) == "SIGINT"
    assert dockerfile_stop_signal(tmp_path / "missing") is None
