"""Deploy files (Kubernetes, Dockerfile, compose, systemd) and cross-layer rules.

Placeholder until the deploy checker lands: it checks nothing and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from killproof.check.facts import DeployResult, GoProgram
from killproof.model import Skipped


def check_deploy(
    root: Path, files: Sequence[Path], programs: Sequence[GoProgram], stdin_text: str | None
) -> DeployResult:
    """Check deploy files under ``root`` (``files`` are the walked, non-Go files)."""
    del files, programs, stdin_text
    return DeployResult(skipped=(Skipped(str(root), "deploy-file rules are not built yet"),))
