"""The command line: parse arguments, call one core function per command, write, exit.

Exit codes: 0 nothing at or above the failing severity, 1 findings at or above
it, 2 usage or input error (one line naming the file, never a traceback) — and an internal
error, which must never read as a verdict: one line, the traceback saved to a file.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence

import click

from killproof.errors import InputError

# Subcommand name → "module:attribute". Imported only when run (or listed by --help), so
# `killproof why` does not pay for drill's HTTP client at start-up.
COMMANDS = {
    "why": "killproof.commands.why:command",
    "check": "killproof.commands.check:command",
    "drill": "killproof.commands.drill:command",
    "fleet": "killproof.commands.fleet:command",
    "plan": "killproof.commands.plan:command",
    "report": "killproof.commands.report:command",
    "watch": "killproof.commands.watch:command",
    "rules": "killproof.commands.rules:rules_command",
    "explain": "killproof.commands.rules:explain_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand name, in the order of :data:`COMMANDS`."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return the subcommand, or None for an unknown name."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="killproof", prog_name="killproof")
def app() -> None:
    """killproof: make Go services stop dying with 'signal: killed'.

    \b
      why      explain a kill from its evidence (kernel log, pod status, events, journal…)
      check    read Go code and its deploy files; find what will get it killed
      drill    run the binary under its real memory limit, load it, SIGTERM it, judge
      fleet    rank a cluster's workloads by kill risk, from Prometheus (+ the API)
      plan     from a drill's numbers to requests, limits, GOMEMLIMIT, grace, alerts, a patch
      report   render a saved JSON report again (--format html: one page with charts)
      watch    record a running service; capture heap and goroutines before an OOM kill
      rules    list every rule;  explain ID  shows one rule's documentation
    """


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of raising SystemExit."""
    try:
        result = app.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        click.echo("killproof: interrupted", err=True)
        return 130
    except InputError as exc:
        click.echo(f"killproof: {exc}", err=True)
        return 2
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug: never let it read as a verdict (0 or 1)
        click.echo(f"killproof: internal error: {crash_summary(exc)}", err=True)
        return 2
    return int(result or 0)


def crash_summary(exc: BaseException) -> str:
    """One line for an unexpected exception; its traceback goes to a private file.

    The file is created by :func:`tempfile.mkstemp` (unpredictable name, mode 0600), so a
    crash while running as root cannot be steered onto another file.
    """
    import tempfile
    import traceback

    what = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    try:
        fd, path = tempfile.mkstemp(prefix="killproof-crash-", suffix=".txt")
        with open(fd, "w", encoding="utf-8") as out:
            out.write("".join(traceback.format_exception(exc)))
    except OSError:
        return f"{what} (the traceback could not be saved)"
    return f"{what} (traceback saved to {path}; please report it)"


def run() -> None:
    """The console script: one command in a process of its own, then exit."""
    # A check builds a tree of small objects for every YAML node and the cyclic collector
    # would rescan them ~200 times; it finds next to no cycles here. Collect 100x less often.
    gc.set_threshold(100_000, 20, 20)
    sys.exit(main())


if __name__ == "__main__":
    run()
