"""Deploy files that hold no server to judge: an empty compose file (a seam left for
overrides) is read, not "unreadable"; a build container's script that packages the program
and copies it out runs to completion, so no shell swallows a SIGTERM meant for a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from killproof.check.run import CheckOptions, run_check
from killproof.sources.deploy.compose import parse_compose
from killproof.sources.deploy.entrypoint import analyze_script
from killproof.sources.deploy.yamltree import YamlError

EMPTY_COMPOSES = {
    "compose.extras.yaml": "# Extras layer: override this file in your fork.\n# Intentionally empty.\n",
    "compose.override.yaml": "",
    "compose.networks.yaml": "name: shop\nnetworks:\n  edge: {}\nx-common: {restart: always}\n",
}
BROKEN_COMPOSES = {
    "compose.list.yaml": "- api\n- web\n",
    "compose.scalar.yaml": "# header\n\njust text\n",
    "docker-compose.typo.yml": "name: shop\nservice:\n  api: {image: api:1}\n",
}


@pytest.mark.parametrize("name", sorted(EMPTY_COMPOSES))
def test_empty_compose_files_have_no_services(name: str) -> None:
    """Nothing but comments, or only top-level keys besides `services`: zero services."""
    assert parse_compose(EMPTY_COMPOSES[name], name).services == ()


@pytest.mark.parametrize("name", sorted(BROKEN_COMPOSES))
def test_files_that_are_not_compose_still_fail(name: str) -> None:
    """A list, a scalar, or an unknown top-level key (`service:`) is still not compose."""
    with pytest.raises(YamlError):
        parse_compose(BROKEN_COMPOSES[name], name)


def test_kp001_names_the_broken_compose_files_only(tmp_path: Path) -> None:
    """`check` reports KP001 at the broken files' lines and none at the empty ones."""
    for name, text in {**EMPTY_COMPOSES, **BROKEN_COMPOSES}.items():
        (tmp_path / name).write_text(text)
    report = run_check([str(tmp_path)], CheckOptions(jobs=1, enable=frozenset({"KP001"})))
    got = {(f.rule, f.location.path, f.location.line) for f in report.findings}
    assert got == {
        ("KP001", "compose.list.yaml", 1),
        ("KP001", "compose.scalar.yaml", 1),
        ("KP001", "docker-compose.typo.yml", 1),
    }


BUILD_SCRIPTS = {
    "deb.sh": "#!/bin/sh\ncd /src\nmake api\ndpkg-buildpackage -us -uc -b\ncp ../*.deb /pkg/\n",
    "rpm.sh": "#!/bin/sh\nset -e\nrpmbuild -bb api.spec\nmv ~/rpmbuild/RPMS/*/*.rpm /out/\n",
    "tarball.sh": "#!/bin/bash\ngo build -o dist/api ./cmd/api\ntar -czf /out/api.tgz -C dist api\n",
}
SERVER_SCRIPTS = {
    "start.sh": "#!/bin/sh\ncp /config/app.yaml /etc/app.yaml\n/app/api --config /etc/app.yaml\n",
    "run.sh": "#!/bin/sh\nmkdir -p /data\nchown app /data\n/usr/bin/server\n",
    "wrap.sh": "#!/bin/bash\nsource /env.sh\n./api &\nwait\n",
}


@pytest.mark.parametrize("name", sorted(BUILD_SCRIPTS))
def test_build_scripts_that_copy_their_artefact_out_are_one_shot(name: str) -> None:
    """Ending by copying, moving or archiving the artefact: a job, not a server wrapper."""
    script = analyze_script(BUILD_SCRIPTS[name], name)
    assert (script.execs, script.runs_server) == (False, False)


@pytest.mark.parametrize("name", sorted(SERVER_SCRIPTS))
def test_wrappers_that_copy_first_and_serve_last_still_run_a_server(name: str) -> None:
    """Copying config first does not make a script one-shot: the server runs last."""
    script = analyze_script(SERVER_SCRIPTS[name], name)
    assert (script.execs, script.runs_server) == (False, True)
    assert script.last_line == SERVER_SCRIPTS[name].count("\n")
