"""KP209 counts the Services that carry client traffic: a Service whose every port is named
for scrapes or probes (``metrics``, ``http-metrics``, ``healthz``) races no client
connection with the endpoint removal. Any other Service, or an unnamed port, still counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.check.deploy import check_deploy
from killproof.config import ProjectConfig

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ctl
spec:
  template:
    metadata:
      labels: {app: ctl}
    spec:
      containers:
        - name: ctl
          image: acme/ctl:1
          ports: [{containerPort: 8090, name: metrics}, {containerPort: 8080}]
"""


def service(name: str, *ports: str) -> str:
    """Service ``name`` selecting ``app: ctl`` with one port per name ("" for no name)."""
    lines = "".join(
        f"    - {{port: {8000 + i}{', name: ' + n if n else ''}}}\n" for i, n in enumerate(ports)
    )
    return f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: ctl}}\n  ports:\n{lines}---\n"


def kp209(tmp_path: Path, name: str, *ports: str) -> set[tuple[str, str, int]]:
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / "ctl.yaml"
    path.write_text(service(name, *ports) + DEPLOY)
    result = check_deploy(tmp_path, [path], (), None, ProjectConfig())
    return {
        (f.rule, f.location.path, f.location.line) for f in result.findings if f.rule == "KP209"
    }


@pytest.mark.parametrize(
    ("name", "ports"),
    [
        ("ctl-metrics", ("metrics",)),
        ("ctl-monitoring", ("http-metrics", "healthz")),
        ("prometheus", ("prom_telemetry",)),
    ],
)
def test_a_scrape_only_service_is_no_client_traffic(
    tmp_path: Path, name: str, ports: tuple[str, ...]
) -> None:
    assert kp209(tmp_path, name, *ports) == set()


@pytest.mark.parametrize(
    ("name", "ports"),
    [
        ("ctl-metrics", ("http",)),
        ("ctl-metrics", ("metrics", "")),
        ("ctl", ("metricsservice",)),
        ("ctl", ("http-metrics",)),
    ],
)
def test_a_service_with_a_client_port_counts(
    tmp_path: Path, name: str, ports: tuple[str, ...]
) -> None:
    """Reported at the container's image line: line 11 of the Deployment, after the
    Service's lines. A Service ``ctl`` whose app port is named ``http-metrics`` (so that
    it is scraped) is the one clients use."""
    service_lines = service(name, *ports).count("\n")
    assert kp209(tmp_path, name, *ports) == {("KP209", "deploy/ctl.yaml", service_lines + 11)}
