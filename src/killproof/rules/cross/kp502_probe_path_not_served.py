"""KP502 probe-path-not-served: the probe asks for a path no handler serves."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from killproof.facts.deploy import DeployFacts
from killproof.model import Finding, Severity
from killproof.rules.base import Example, Rule, RuleDocs
from killproof.rules.locate import loc, program_ev
from killproof.sources.deploy.yamltree import YMap

_METHOD = re.compile(r"^[A-Z]+\s+")


def _pattern_matches(pattern: str, path: str) -> bool:
    """Go ServeMux semantics: exact, ``/prefix/`` subtree, ``{x}``/``{x...}``/``{$}``."""
    pattern = _METHOD.sub("", pattern.strip())
    if not pattern.startswith("/"):
        pattern = "/" + pattern.split("/", 1)[1] if "/" in pattern else pattern  # host-qualified
    exact = pattern.endswith("{$}")
    pattern = pattern.removesuffix("{$}")
    regex = ""
    for part in re.split(r"(\{[^}]*\})", pattern):
        if part.startswith("{") and part.endswith("...}"):
            regex += ".*"
        elif part.startswith("{") or part.startswith(":"):
            regex += "[^/]+"
        else:
            regex += re.sub(r":[A-Za-z_]+", "[^/]+", re.escape(part).replace(r"\*", ".*"))
    if pattern.endswith("/") and not exact:
        regex += ".*"
    return re.fullmatch(regex, path) is not None


def served(path: str, patterns: Iterable[str]) -> bool:
    """True when any registered pattern serves ``path`` (query string ignored)."""
    clean = path.split("?", 1)[0] or "/"
    return any(_pattern_matches(p, clean) for p in patterns)


_CR = "sigs.k8s.io/controller-runtime"
FRAMEWORK_PATHS: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = (
    # k8s.io/apiserver's generic API server installs its health checks itself
    (
        ("k8s.io/apiserver/pkg/server", "k8s.io/apiserver/pkg/server/options"),
        frozenset({"/healthz/", "/livez/", "/readyz/"}),
    ),
    # controller-runtime's manager serves its health probes (AddHealthzCheck/AddReadyzCheck)
    ((_CR, f"{_CR}/pkg/manager", f"{_CR}/pkg/healthz"), frozenset({"/healthz/", "/readyz/"})),
)
"""(import paths, path patterns the library serves without the program registering
them). A ``/x/`` pattern also serves ``/x`` here: both libraries answer either."""


def framework_paths(imports: frozenset[str]) -> frozenset[str]:
    """The patterns the program's libraries serve, with each subtree's bare path too."""
    out: set[str] = set()
    for packages, patterns in FRAMEWORK_PATHS:
        if any(i in imports for i in packages):
            out |= patterns | {p.rstrip("/") for p in patterns}
    return frozenset(out)


def check(facts: DeployFacts) -> Iterator[Finding]:
    """httpGet probes of linked containers against the program's handler paths and the
    health endpoints its libraries install."""
    for linked in facts.launches:
        c, program = linked.launch.container, linked.program
        if c is None or program is None or not program.handler_paths:
            continue
        library = framework_paths(program.imports)
        for kind in ("liveness", "readiness", "startup"):
            probe = c.probe(kind)
            http = probe.get("httpGet") if probe is not None else None
            if not isinstance(http, YMap):
                continue
            path = str(http.get("path", "/"))
            if served(path, program.handler_paths | library):
                continue
            paths = ", ".join(sorted(program.handler_paths))
            yield RULE.finding(
                f"{kind}Probe asks for {path} but Go program {program.dir} registers only "
                f"{paths}: the probe gets 404 "
                + (
                    "and the kubelet kills the container in a loop"
                    if kind != "readiness"
                    else "and the pod never becomes ready"
                ),
                loc(http.pos("path"), c.subject),
                [program_ev(program, f"handlers {paths}")],
            )


BAD = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
spec:
  containers:
    - name: api
      image: api:1
      command: ["/api"]
      livenessProbe:
        httpGet:
          path: /health
          port: 8080
-- cmd/api/main.go --
package main

import "net/http"

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	http.ListenAndServe(":8080", mux)
}
-- go.mod --
module example.com/shop

go 1.23
"""

RULE: Rule[DeployFacts] = Rule(
    id="KP502",
    name="probe-path-not-served",
    severity=Severity.ERROR,
    summary="A probe's httpGet path that no handler in the Go code registers.",
    family="cross",
    docs=RuleDocs(
        what=(
            "liveness/readiness/startup `httpGet.path` of a container linked to a Go program, "
            "matched against the paths the program registers (ServeMux semantics: exact "
            "paths, `/prefix/` subtrees, Go 1.22 `{wildcards}` and `{$}`; router `:params`). "
            "Silent when the Go side found no handler paths. Health endpoints a library "
            "installs count as served: `/healthz`, `/livez`, `/readyz` (and their "
            "sub-checks) of `k8s.io/apiserver`'s generic server, `/healthz` and `/readyz` "
            "of a controller-runtime manager."
        ),
        why=(
            "A probe on an unserved path gets 404, which counts as failure: a liveness or "
            "startup probe then restarts the container forever (CrashLoopBackOff with a "
            "healthy binary), a readiness probe keeps it out of every Service."
        ),
        example="Probe `/health` while the code serves `/healthz`.",
        fix="Point the probe at a registered path (or register the handler).",
        references=("https://pkg.go.dev/net/http#hdr-Patterns-ServeMux",),
    ),
    check=check,
    bad=(Example("yaml", BAD, "deploy/pod.yaml"),),
    good=(Example("yaml", BAD.replace("path: /health\n", "path: /healthz\n"), "deploy/pod.yaml"),),
)
