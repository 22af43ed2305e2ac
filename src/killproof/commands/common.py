"""What every command shares: ``--format``/``--output``/``--fail-on`` and writing a report."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from killproof.config import Settings, terminal_settings
from killproof.errors import InputError
from killproof.model import Report, Severity, exit_code
from killproof.report import OutputFormat, RenderOptions, format_names, render
from killproof.rules import catalog

FC = TypeVar("FC", bound=Callable[..., Any])
FAIL_NEVER = "none"
"""``--fail-on none``: report, never fail (exit 0 unless the input could not be read)."""


def tool_version() -> str:
    """The installed killproof version."""
    from importlib.metadata import PackageNotFoundError, version  # ~15 ms: SARIF only

    try:
        return version("killproof")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"


def output_options(default_fail_on: str = "error") -> Callable[[FC], FC]:
    """Decorate a command with ``--format``, ``--output`` and ``--fail-on``."""

    def decorate(func: FC) -> FC:
        func = click.option(
            "--fail-on",
            type=click.Choice([*(s.value for s in Severity), FAIL_NEVER]),
            default=default_fail_on,
            show_default=True,
            help=f"Exit 1 when a finding is at or above this severity ({FAIL_NEVER}: exit 0 "
            "whatever is found; 2 still means the input could not be read).",
        )(func)
        func = click.option(
            "--html",
            "html_page",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            expose_value=False,  # read by emit() from the context: no command signature grows
            callback=_remember_html_page,
            help="Also write the report as one self-contained HTML page (charts) to this file.",
        )(func)
        func = click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            help="Write the report to this file instead of standard output.",
        )(func)
        func = click.option(
            "-f",
            "--format",
            "fmt",
            type=click.Choice(format_names()),
            default="text",
            show_default=True,
            help="Report format.",
        )(func)
        return func

    return decorate


def _remember_html_page(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    ctx.meta[_HTML_PAGE] = value


_HTML_PAGE = "killproof.html_page"


def emit(report: Report, fmt: str, output: Path | None, fail_on: str) -> int:
    """Render and write ``report`` (and the ``--html`` page when asked); return the exit
    code its findings earn."""
    severity = None if fail_on == FAIL_NEVER else Severity(fail_on)
    to_tty = output is None and sys.stdout.isatty()
    settings = terminal_settings(to_tty, severity or Severity.ERROR)
    output_format = OutputFormat(fmt)
    text = render(report, output_format, _render_options(report, output_format, settings))
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _write(text, output)
    context = click.get_current_context(silent=True)
    html_page = context.meta.get(_HTML_PAGE) if context is not None else None
    if isinstance(html_page, Path):
        options = _render_options(report, OutputFormat.HTML, settings)
        _write(render(report, OutputFormat.HTML, options), html_page)
        click.echo(f"killproof: HTML report written to {html_page}", err=True)
    return 0 if severity is None else exit_code(report, severity)


def _render_options(
    report: Report, output_format: OutputFormat, settings: Settings
) -> RenderOptions:
    # Only SARIF, Markdown and HTML cite rule metadata; loading every family costs start-up.
    wants_rules = output_format in (OutputFormat.SARIF, OutputFormat.MARKDOWN, OutputFormat.HTML)
    excerpts = {}
    if output_format is OutputFormat.HTML:
        from killproof.commands.report import read_excerpts

        excerpts = read_excerpts(report, Path.cwd())
    return RenderOptions(
        color=settings.color,
        width=settings.width,
        rules=catalog() if wants_rules else {},
        tool_version=tool_version() if output_format is OutputFormat.SARIF else "",
        excerpts=excerpts,
    )


def _write(text: str, path: Path) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write report: {exc.strerror}", str(path)) from exc
