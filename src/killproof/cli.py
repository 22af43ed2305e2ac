"""The command line: parse arguments, call one core function per command, write, exit.

Exit codes (DESIGN.md): 0 nothing at or above the failing severity, 1 findings at or above
it, 2 usage or input error (one line naming the file, never a traceback).
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
    return int(result or 0)


def run() -> None:
    """The console script: one command in a process of its own, then exit."""
    # A check builds a tree of small objects for every YAML node and the cyclic collector
    # would rescan them ~200 times; it finds next to no cycles here. Collect 100x less often.
    gc.set_threshold(100_000, 20, 20)
    sys.exit(main())


if __name__ == "__main__":
    run()
