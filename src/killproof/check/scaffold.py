"""Tutorial scaffolding: third-party workloads in ``examples/`` and ``docs/``.

Docs and examples deploy the project itself (judged, and labelled as examples) but also
throwaway third-party workloads that only make the tutorial work: an nginx to point DNS
records at, an etcd or a bind9 to try a provider, an echo server. Nobody runs those as
they are written, so the Kubernetes rules do not judge them. A workload is scaffolding
when it sits in an example tree, the repo has Go programs, and none of its containers
runs one of them by image repository or command name (``ghcr.io/acme/api:1`` runs
program ``api``; so does ``command: [/usr/bin/api]``; ``acme/http-echo`` does not run
program ``api`` of module ``github.com/acme/shop``, whoever publishes it). Workloads outside example trees, and every
workload of a repo without Go programs, are always judged.

A compound name runs the project only when every word of it is the project's or a generic
one (``shop-api``, ``api-server``): ``acme/shop-authserver`` shares the organisation's
word but names a sibling program this repo does not build (the throwaway backend a
walkthrough routes to, to show a feature of the project).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence

from killproof.check.scope import PathKind, classify
from killproof.facts.go_program import GoProgram
from killproof.sources.deploy.manifests import K8sObject, ManifestSet
from killproof.sources.deploy.yamltree import iter_maps

_WORD = re.compile(r"[-_.]")
# Words that say what kind of thing an image is, not which program it runs.
_GENERIC = frozenset({
    "server", "service", "svc", "app", "daemon", "agent", "controller", "operator", "cli",
    "go", "golang", "bin", "main", "core", "image", "docker", "container", "static",
    "distroless", "alpine", "debian", "ubuntu", "scratch", "linux", "amd64", "arm64",
    "dev", "release", "latest", "example", "examples", "demo", "sample", "k8s", "kube",
})  # fmt: skip


def project_names(programs: Iterable[GoProgram]) -> frozenset[str]:
    """Lower-case names this repo's code is known by: binaries, main package directories
    and the module path's last two elements (``github.com/acme/api-server`` gives
    ``acme`` and ``api-server``)."""
    names: set[str] = set()
    for p in programs:
        names.add(p.binary_name.lower())
        if p.dir not in (".", ""):
            names.add(posixpath.basename(p.dir).lower())
        parts = [x for x in p.module_path.lower().split("/") if x and not re.fullmatch(r"v\d+", x)]
        names.update(parts[-2:] if len(parts) > 1 else parts)
    return frozenset(n for n in names if len(n) >= 2)


def _repository(image: str) -> str:
    """The image's repository name: its last path element, without tag or digest. The
    owner elements (``ghcr.io/acme/…``) are left out: an organisation publishes its
    walkthrough's echo server under its own name too (``acme/http-echo``)."""
    ref = image.split("@", 1)[0]
    return ref.lower().rsplit("/", 1)[-1].split(":", 1)[0]


def _runs_project(spec: object, names: frozenset[str]) -> bool:
    """True when a container spec's image or command names one of ``names`` — or when
    it cannot be told (no image, a template expression)."""
    if not isinstance(spec, dict):
        return True
    image = spec.get("image")
    if not isinstance(image, str) or not image or "{{" in image or "$" in image:
        return True
    words = {_repository(image)} - {""}
    command = spec.get("command")
    if isinstance(command, list) and command and isinstance(command[0], str):
        words.add(posixpath.basename(command[0]).lower())
    return any(word in names or _compound_of(word, names) for word in words)


def _compound_of(word: str, names: frozenset[str]) -> bool:
    """True when ``word`` is made of the project's words and generic ones only, with at
    least one of the project's (``shop-api``, ``api-server``; not ``shop-authserver``)."""
    own = {part for name in names for part in _WORD.split(name) if part}
    parts = [p for p in _WORD.split(word) if p and not re.fullmatch(r"v?\d+", p)]
    return bool(own & set(parts)) and all(p in own or p in _GENERIC for p in parts)


def scaffolding(
    objects: Sequence[K8sObject],
    programs: Sequence[GoProgram],
    built: frozenset[str] = frozenset(),
) -> set[int]:
    """The ids of the workload objects in ``objects`` that are tutorial scaffolding;
    ``built`` adds the binary names the repo's Dockerfiles give its programs."""
    names = project_names(programs) | built if programs else frozenset()
    if not names:
        return set()
    out: set[int] = set()
    for w in ManifestSet.of(objects).workloads:
        if classify(w.obj.at.path).kind is not PathKind.EXAMPLE:
            continue
        specs = [
            *iter_maps(w.pod_spec.get("initContainers")),
            *iter_maps(w.pod_spec.get("containers")),
        ]
        if specs and not any(_runs_project(s, names) for s in specs):
            out.add(id(w.obj))
    return out
