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

A demo application's image (``acme/shop-demo``, ``hello-app``, ``guestbook``: a word of
``_DEMO``) runs no program of this repo unless the repo builds one of exactly that name: it
is the walkthrough's throwaway app that the project is shown deploying or routing to.

A compound name runs the project only when every word of it is the project's or a generic
one (``shop-api``, ``api-server``): ``acme/shop-authserver`` shares the organisation's
word but names a sibling program this repo does not build (the throwaway backend a
walkthrough routes to, to show a feature of the project).

Stand-ins are scaffolding wherever they sit (``manifests/fake-teams-api.yaml`` beside the
project's own manifests): a workload named as a fake, mock, stub or dummy service, or
running a mock server's image (``wiremock``), whose containers run no program of this repo.
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
    "dev", "release", "latest", "k8s", "kube",
})  # fmt: skip
# Words that name a tutorial's demo application (``acme/shop-demo``, ``hello-app``): an image
# so named is the walkthrough's throwaway app, not the project, unless this repo builds a
# program of exactly that name.
_DEMO = frozenset({
    "demo", "demos", "example", "examples", "sample", "samples", "tutorial", "quickstart",
    "hello", "helloworld", "guestbook", "playground", "showcase", "toy",
})  # fmt: skip
_STAND_IN = frozenset({"fake", "fakes", "mock", "mocks", "stub", "stubs", "dummy", "wiremock"})


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
    least one of the project's (``shop-api``, ``api-server``; not ``shop-authserver``, nor
    the demo app ``shop-demo`` of a tutorial, see ``_DEMO``)."""
    own = {part for name in names for part in _WORD.split(name) if part} - _DEMO
    parts = [p for p in _WORD.split(word) if p and not re.fullmatch(r"v?\d+", p)]
    return bool(own & set(parts)) and all(p in own or p in _GENERIC for p in parts)


def _names_stand_in(word: str) -> bool:
    """True when a workload or image name says it is a stand-in for a real service:
    a word ``fake``/``mock``/``stub``/``dummy`` (``fake-teams-api``, ``dummy-backend``),
    or a mock server's own name (``wiremock``, ``mockserver``, ``fakesmtp``)."""
    parts = [p for p in _WORD.split(word.lower()) if p]
    return any(
        p in _STAND_IN or p.startswith(("mock", "fake")) or p.endswith(("mock", "mocks"))
        for p in parts
    )


def _workloads(objects: Sequence[K8sObject]) -> Iterable[tuple[K8sObject, list[object]]]:
    """Each workload object with its container specs (init containers included)."""
    for w in ManifestSet.of(objects).workloads:
        specs: list[object] = [
            *iter_maps(w.pod_spec.get("initContainers")),
            *iter_maps(w.pod_spec.get("containers")),
        ]
        yield w.obj, specs


def _project_names(programs: Sequence[GoProgram], built: frozenset[str]) -> frozenset[str]:
    return project_names(programs) | built if programs else frozenset()


def stand_ins(
    objects: Sequence[K8sObject],
    programs: Sequence[GoProgram],
    built: frozenset[str] = frozenset(),
) -> set[int]:
    """The ids of workloads outside example trees that are a third-party stand-in for a
    real service: named as one (workload name or image, see :func:`_names_stand_in`),
    and no container runs a program of this repo. The docs offer them to try a feature
    without the real service (a fake team directory, a mock payment API); nobody deploys
    them as written. A stand-in that runs the project's own image is judged."""
    names = _project_names(programs, built)
    if not names:
        return set()
    out: set[int] = set()
    for obj, specs in _workloads(objects):
        if classify(obj.at.path).kind is PathKind.EXAMPLE or not specs:
            continue
        images = [
            _repository(s["image"])
            for s in specs
            if isinstance(s, dict) and isinstance(s.get("image"), str)
        ]
        named = [n for n in (obj.name, *images) if isinstance(n, str)]
        if any(_names_stand_in(n) for n in named) and not any(
            _runs_project(s, names) for s in specs
        ):
            out.add(id(obj))
    return out


def scaffolding(
    objects: Sequence[K8sObject],
    programs: Sequence[GoProgram],
    built: frozenset[str] = frozenset(),
) -> set[int]:
    """The ids of the workload objects in ``objects`` that are tutorial scaffolding or
    stand-ins (:func:`stand_ins`); ``built`` adds the binary names the repo's Dockerfiles
    give its programs."""
    names = _project_names(programs, built)
    if not names:
        return set()
    out = stand_ins(objects, programs, built)
    for obj, specs in _workloads(objects):
        if classify(obj.at.path).kind is not PathKind.EXAMPLE:
            continue
        if specs and not any(_runs_project(s, names) for s in specs):
            out.add(id(obj))
    return out
