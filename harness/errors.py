"""The one root exception type, and the exit codes every command shares.

Exit codes (a public contract, see DESIGN.md): 0 valid, 1 invalid (an anomaly was
found), 2 usage or input error, 3 unknown (a checker gave up, or the run could not
finish). Any ``ChaosError`` reaching the CLI becomes one clear line on stderr and its
exit code; nothing else is printed.
"""

from __future__ import annotations

from typing import Final

EXIT_VALID: Final = 0
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNKNOWN: Final = 3


class ChaosError(Exception):
    """Root of every error the harness raises on purpose; carries its exit code."""

    exit_code: int = EXIT_USAGE


class InputError(ChaosError):
    """Bad input from the user: a flag, a file, an inventory. Exit 2."""

    exit_code = EXIT_USAGE


class EnvironmentProblem(ChaosError):
    """Something the machine lacks (engine, tool, image). Exit 2, with the fix in the message."""

    exit_code = EXIT_USAGE


class RunAborted(ChaosError):
    """The run could not finish (cluster never healthy, interrupted). Exit 3."""

    exit_code = EXIT_UNKNOWN
