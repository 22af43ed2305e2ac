"""The drill report in every format, from a fixed scenario, against golden files
(``pytest --update-goldens`` rewrites them; reviewers read the diffs)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from killproof.drill.scenario import parse_scenario
from killproof.drill.verdict import build_report
from killproof.report import OutputFormat, RenderOptions, format_names, render
from killproof.rules import catalog

# orders at 64Mi: leaks at 200 req/s, profile at 80 %, OOM-killed in step 2.
ORDERS_OOM = """\
limit 64Mi
slo p99<300ms
startup 0.05s
request "GET /orders?id={n}" "a route found in the code, examples/orders/main.go:28, reading ?id"
idle
memory 0s 3Mi
step 200/s 5s p50=1.4ms p99=8ms
memory 0.5s 8Mi 1s 10Mi 1.5s 12Mi 2s 15Mi 2.5s 17Mi 3s 20Mi 3.5s 22Mi 4s 25Mi 4.5s 27Mi 5s 30Mi
goroutines 1s 40 3s 41 5s 40
step 400/s 5s p50=2ms p99=90ms stopped=yes
memory 6s 40Mi 7s 50Mi 8s 60Mi
profile 5s step0-end main.storeResponse examples/orders/cache.go:21 24Mi
profile 7.4s memory-80pct main.storeResponse examples/orders/cache.go:21 41Mi
oom 8.3s cgroup-events
exit 8.3s SIGKILL
"""

# orders-fixed: flat memory, drains on SIGTERM inside the grace period.
ORDERS_FIXED = """\
limit 128Mi
startup 0.05s
request "GET /orders?id={n}" --request
step 200/s 5s p50=1.2ms p99=6ms
memory 1s 26Mi 2s 27Mi 3s 26Mi 4s 27Mi 5s 26Mi
shutdown SIGTERM exit-after=5.01s code=0 ready-failed=0.01s closed=5.0s ok=1802 refused=4
"""


@pytest.mark.parametrize(
    "fmt", [f for f in format_names() if f != "html"]
)  # HTML: test_report_html
@pytest.mark.parametrize(
    ("name", "scenario"), [("orders-oom", ORDERS_OOM), ("orders-fixed", ORDERS_FIXED)]
)
def test_drill_report_goldens(
    golden: Callable[[str, str], None], fmt: str, name: str, scenario: str
) -> None:
    report = build_report(parse_scenario(scenario, f"{name}.txt"), {"work_dir": "/tmp/drill"})
    options = RenderOptions(rules=catalog(), tool_version="0.0.0-test")
    golden(f"drill-{name}.{fmt}", render(report, OutputFormat(fmt), options))
