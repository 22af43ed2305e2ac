"""The command line: parse arguments, call one core function per command, write, exit.

Exit codes (DESIGN.md): 0 nothing at or above the failing severity, 1 findings at or above
it, 2 usage or input error (one line naming the file, never a traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from killproof.commands import check, drill, rules, why
from killproof.commands.common import tool_version
from killproof.errors import InputError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(tool_version(), prog_name="killproof")
def app() -> None:
    """killproof: make Go services stop dying with 'signal: killed'.

    \b
      why      explain a kill from its evidence (kernel log, pod status, events, journal…)
      check    read Go code and its deploy files; find what will get it killed
      drill    run the binary under its real memory limit, load it, SIGTERM it, judge
      rules    list every rule;  explain ID  shows one rule's documentation
    """


app.add_command(why.command)
app.add_command(check.command)
app.add_command(drill.command)
app.add_command(rules.rules_command)
app.add_command(rules.explain_command)


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


if __name__ == "__main__":
    sys.exit(main())
