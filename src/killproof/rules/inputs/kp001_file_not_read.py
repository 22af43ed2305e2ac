"""KP001 file-not-read: a file ``check`` should judge but could not read."""

from __future__ import annotations

from collections.abc import Iterator

from killproof.model import Finding, Location, Severity, Skipped
from killproof.rules.base import Example, Rule, RuleDocs


def _check(skipped: Skipped) -> Iterator[Finding]:
    if skipped.failure is None:
        return  # left alone by design (a Helm template, a generated file): not a finding
    path = skipped.path or skipped.what
    yield RULE.finding(
        f"could not read this file, so no rule checked it: {skipped.reason}",
        Location(path, skipped.line),
        remedy=_remedy(path),
        severity=skipped.failure,
    )


def _remedy(path: str) -> str:
    """The fix line, with the command that says what is wrong with this kind of file."""
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".go"):
        tool = f"`gofmt -e {path}` lists the syntax errors"
    elif name.endswith((".yaml", ".yml")):
        tool = f"`kubectl apply --dry-run=client -f {path}` or a YAML linter says what is wrong"
    elif "Dockerfile" in name or name.endswith(".dockerfile"):
        tool = f"`docker build --check -f {path} .` says what is wrong"
    elif name.endswith((".service", ".conf")):
        tool = f"`systemd-analyze verify {path}` says what is wrong"
    else:
        tool = "check that the file is readable and in the format its name says"
    return f"fix the file at the line shown ({tool}), or exclude it (--exclude, exclude:)"


RULE: Rule[Skipped] = Rule(
    id="KP001",
    name="file-not-read",
    severity=Severity.ERROR,
    summary="A Go source or deploy file that could not be read or parsed.",
    docs=RuleDocs(
        what=(
            "Every file `check` would judge but could not read: a manifest or compose file "
            "that is not valid YAML (bad indentation, a tab), a Dockerfile or systemd unit "
            "that does not parse, a Go file with a syntax error, a file it has no "
            "permission to read. The finding points at the line the parser stopped on.\n\n"
            "A Go file that tree-sitter-go cannot parse but the Go toolchain's `gofmt` "
            "reads (Go syntax newer than the parser), or that cannot be confirmed because "
            "no Go toolchain is installed, is reported as a **warning**: the code may well "
            "build, but no rule looked at it.\n\n"
            "Files left alone *by design* are not findings: they are listed under "
            '"not read" with the command that reads them (Helm templates: '
            "`helm template CHART | killproof check -`), or left out as tests or "
            "generated code."
        ),
        why=(
            "A file that cannot be read is a file no rule checked. Without this finding "
            'a manifest broken by one bad indent reports "0 deploy files checked" and '
            "exit 0, and the CI job passes the very change that will fail to apply — or "
            "that applies a container without its memory limit."
        ),
        example=(
            "```yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders\n"
            "   namespace: shop   # one space too many\n```"
        ),
        fix=(
            "Fix the file at the line shown (`kubectl apply --dry-run=client -f FILE`, "
            "`gofmt -e FILE` and `systemd-analyze verify UNIT` say what is wrong), or "
            "exclude it with `--exclude GLOB` or `exclude:` in `.killproof.yaml` when it "
            "is not meant to be read."
        ),
        references=(
            "docs/config.md: exclude",
            "https://go.dev/ref/spec",
            "https://yaml.org/spec/1.2.2/#indentation-spaces",
        ),
    ),
    check=_check,
    bad=(
        Example(
            "yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: orders\n"
            "   namespace: shop\n",
            "deploy.yaml",
        ),
        Example("go", "package main\n\nfunc main() {\n\tx :=\n}\n", "main.go"),
    ),
    good=(
        Example(
            "yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orders\n"
            "  namespace: shop\ndata:\n  LOG_LEVEL: info\n",
            "config.yaml",
        ),
        Example("go", "package main\n\nfunc main() {}\n", "main.go"),
    ),
    family="inputs",
)
