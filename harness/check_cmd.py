"""``chaos check``: check recorded histories for linearizability, one verdict per file.

    chaos check --model MODEL [--independent] [--json] [--time-limit S] FILE...

Files are JSON Lines (the native format) or Jepsen EDN, told apart by suffix or
content. Every file is read before any is checked, so a malformed one stops the command
at once with one line naming the file and line (exit 2). Output: one line per file
(the verdict and, when invalid, the sentence explaining it), or with ``--json`` one
JSON array with an object per file: ``file``, ``valid`` (true, false or "unknown"),
``summary``, ``model``, ``operations``, ``parts``, ``elapsed``, and when invalid
``part`` and ``counterexample`` (the shape documented in checkers/result.py).

Exit codes: 0 every file valid, 1 any invalid, 3 any unknown (and none invalid),
2 bad input (unknown model, malformed or missing file, bad flag).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from checkers.linearizable import check_linearizable
from checkers.models import get_model, model_names
from checkers.result import UNKNOWN, Result, merge_valid
from harness.errors import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError
from harness.history import read_history
from harness.op import Op


def file_report(path: str, result: Result) -> dict[str, Any]:
    """The JSON object for one checked file."""
    d = result.details
    report: dict[str, Any] = {
        "file": path,
        "valid": result.valid,
        "summary": result.summary,
        "model": d.get("model"),
        "operations": d.get("operations"),
        "parts": d.get("parts"),
        "elapsed": d.get("elapsed"),
    }
    if result.error:
        report["error"] = result.error
    if "counterexample" in d:
        report["part"] = d["counterexample"].get("part")
        report["counterexample"] = d["counterexample"]
    if "failed_parts" in d:
        report["failed_parts"] = d["failed_parts"]
    return report


def _print_human(console: Console, path: str, result: Result) -> None:
    name = escape(path)
    d = result.details
    if result.valid is True:
        console.print(f"[bold green]✓ valid  [/] {name}  [dim]({d.get('operations')} "
                      f"operations, {d.get('parts')} part(s), {d.get('elapsed', 0):.2f} s)[/]")
    elif result.valid is False:
        ce = d.get("counterexample", {})
        parts = d.get("parts") or 1
        where = f" key {escape(repr(ce.get('part')))}:" if parts > 1 else ""
        console.print(f"[bold red]✗ invalid[/] {name} —{where} "
                      f"{escape(ce.get('sentence', result.summary))}")
    else:
        console.print(f"[bold yellow]? unknown[/] {name} — {escape(result.summary)}")


@click.command("check")
@click.option("--model", "-m", "model_name", required=True, metavar="MODEL",
              help="Model to check against: register, cas-register, multi-register, mutex, "
                   "kv, set (or a plugin's).")
@click.option("--independent", is_flag=True,
              help="Split Jepsen's [k v] tuple values into key and value (ops with a key "
                   "are checked per key anyway).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON array with an object per file.")
@click.option("--time-limit", type=float, default=None, metavar="S",
              help="Give up on a file after S seconds: its verdict is unknown.")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
def check(model_name: str, independent: bool, as_json: bool, time_limit: float | None,
          files: tuple[str, ...]) -> int:
    """Check recorded histories (JSON Lines or Jepsen EDN) for linearizability.

    Exit 0 when every file is valid, 1 when any is invalid, 3 when any is unknown,
    2 on bad input.
    """
    if time_limit is not None and not time_limit > 0:
        raise InputError(f"--time-limit must be a positive number of seconds, got {time_limit}")
    if model_name not in model_names():
        get_model(model_name)  # raises InputError listing the known models
    histories: list[tuple[str, list[Op]]] = []
    for f in files:
        if Path(f).is_dir():
            raise InputError(f"{f}: is a directory, not a history file")
        histories.append((f, read_history(f)))
    console = Console(highlight=False, soft_wrap=True)
    results: list[tuple[str, Result]] = []
    for path, ops in histories:
        try:
            result = check_linearizable(ops, model_name, independent=independent,
                                        time_limit=time_limit)
        except InputError as e:
            raise InputError(f"{path}: {e}") from None
        results.append((path, result))
        if not as_json:
            _print_human(console, path, result)
    if as_json:
        click.echo(json.dumps([file_report(p, r) for p, r in results], indent=2,
                              default=str))
    verdict = merge_valid(r.valid for _, r in results)
    if verdict is False:
        return EXIT_INVALID
    if verdict == UNKNOWN:
        return EXIT_UNKNOWN
    return EXIT_VALID
