"""The ``chaos`` command: a click group whose subcommands load lazily from their modules.

Each subcommand lives beside the code it drives (``chaos check`` in harness/check_cmd.py,
``chaos cluster`` in cluster/cli.py, ...); this module only maps names to import paths,
so ``chaos --help`` stays fast and one broken module cannot take the others down.
Every :class:`harness.errors.ChaosError` becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from harness import __version__
from harness.errors import EXIT_USAGE, ChaosError

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("harness.run_cmd", "run", "Run a chaos test: workload + nemesis, check, report."),
    "check": ("harness.check_cmd", "check", "Check recorded histories for linearizability."),
    "cluster": ("cluster.cli", "cluster", "Build, start, inspect and stop a raftkv cluster."),
    "heal": ("nemesis.heal_cmd", "heal", "Remove every fault a killed run left behind."),
    "report": ("reports.cli", "report", "Regenerate the reports of a stored run."),
    "serve": ("reports.cli", "serve", "Serve an index of all stored runs over HTTP."),
    "doctor": ("harness.doctor", "doctor", "Check what a run needs, with the fix for each gap."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attr, _ = entry
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chaos")
def cli() -> None:
    """raft-chaos: Jepsen-style chaos testing for Raft/RocksDB key-value stores.

    Exit codes: 0 valid, 1 invalid (anomaly found), 2 usage or input error,
    3 unknown (a checker gave up, or the run could not finish).
    """


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the group, turning a ChaosError into one line and its exit code."""
    try:
        return cli.main(args=argv, prog_name="chaos", standalone_mode=False)
    except ChaosError as e:
        click.echo(f"chaos: error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("chaos: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)


def _exit_code(result: Any) -> int:
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(_exit_code(main()))
