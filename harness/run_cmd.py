"""``chaos run``: build a Test from a test file and flags, run it, exit with its verdict.

Flags override the test file's values; every flag has a TOML key of the same name with
``_`` for ``-`` (``--time-limit`` is ``time_limit``). ``--test-count N`` runs N tests,
each with a fresh seed unless a seed was given, and stops at the first invalid one
unless ``--keep-going``; the exit code is the worst seen (1 invalid > 3 unknown > 0).
SIGINT/SIGTERM stops the test under way (it heals, checks and reports) and the series.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import tomllib
from typing import Any

import click
from rich.console import Console

from harness.errors import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError
from harness.test import BACKENDS, READ_MODES, UNSAFE_DEFECTS, load_test, read_test_file


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a TOML value (number, boolean, string...) or,
    failing that, as a bare string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"--workload-option {text!r}: expected KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def worst_exit_code(codes: list[int]) -> int:
    for code in (EXIT_INVALID, EXIT_UNKNOWN):
        if code in codes:
            return code
    return max(codes, default=EXIT_VALID)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--test-file", type=click.Path(dir_okay=False),
              help="TOML test file, or a stored run's test.json (reruns it, same seed).")
@click.option("--workload", "-w", help="register | kv | bank | set (or a plugin's) [register]")
@click.option("--workload-option", "-o", "workload_option", multiple=True, metavar="KEY=VALUE",
              help="A workload option, e.g. -o ops_per_key=50 (repeatable).")
@click.option("--nemesis", "-n", help="Faults, comma-separated: partition, kill, pause, clock, "
              "packet, membership, none [none]")
@click.option("--nemesis-interval", type=float, help="Seconds between faults, jittered [10].")
@click.option("--preset", help="A nemesis preset tuned to one raftkv defect.")
@click.option("--nodes", type=int, help="Cluster size, 1-9 [3].")
@click.option("--concurrency", "-c", type=int, help="Client workers [10].")
@click.option("--rate", "-r", type=float, help="Client ops per second, all workers [50].")
@click.option("--time-limit", "-t", type=float, help="Seconds of workload [30].")
@click.option("--seed", type=int, help="Seed of every random choice [random, recorded].")
@click.option("--read-mode", type=click.Choice(READ_MODES), help="raftkv read path [index].")
@click.option("--unsafe", multiple=True, type=click.Choice(UNSAFE_DEFECTS),
              help="Switch on a raftkv defect (repeatable).")
@click.option("--backend", type=click.Choice(BACKENDS),
              help="docker | local | ssh [docker if an engine answers, else local].")
@click.option("--store", help="Store directory [store].")
@click.option("--name", help="Test name [<workload>-<nemesis>].")
@click.option("--database", help="Database adapter [raftkv].")
@click.option("--op-timeout", type=float, help="Seconds before an op is given up as info [5].")
@click.option("--recovery-time", type=float,
              help="Seconds between healing and the final reads [5].")
@click.option("--client-placement", help="round-robin, or a node name to pin every client.")
@click.option("--inventory", type=click.Path(dir_okay=False), help="ssh backend: hosts file.")
@click.option("--accept-new-host-keys", is_flag=True, default=None,
              help="ssh backend: trust hosts not yet in known_hosts.")
@click.option("--test-count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run this many tests.")
@click.option("--keep-going", is_flag=True, help="With --test-count: go on after an invalid test.")
def run(test_file: str | None, workload_option: tuple[str, ...], unsafe: tuple[str, ...],
        test_count: int, keep_going: bool, **flags: Any) -> int:
    """Run a chaos test: cluster up, workload + nemesis, heal, check, report.

    Exit codes: 0 valid, 1 invalid (anomaly found), 2 usage or input error,
    3 unknown (a checker gave up, or the run could not finish).
    """
    from harness.runner import prepare, run_test, stop_on_signals

    overrides: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    if unsafe:
        overrides["unsafe"] = list(unsafe)
    if workload_option:
        file_opts = read_test_file(test_file).get("workload_options", {}) if test_file else {}
        overrides["workload_options"] = {**(file_opts if isinstance(file_opts, dict) else {}),
                                         **dict(parse_option(o) for o in workload_option)}
    test = load_test(test_file, overrides)
    seed_given = "seed" in overrides or (test_file is not None
                                         and read_test_file(test_file).get("seed") is not None)
    prepared = prepare(test)  # every input error surfaces before anything starts
    console = Console(stderr=False)
    codes: list[int] = []
    stop = threading.Event()  # one for all the tests: a signal ends the whole series
    with stop_on_signals(stop, console):
        for i in range(test_count):
            if i > 0:
                if stop.is_set():
                    console.print(f"interrupted: {test_count - i} of {test_count} tests not run")
                    break
                if not seed_given:
                    test = dataclasses.replace(test, seed=random.SystemRandom().randrange(2**31))
                prepared = prepare(test)
            if test_count > 1:
                console.rule(f"test {i + 1} of {test_count}")
            code = run_test(test, console=console, prepared=prepared, stop=stop)
            codes.append(code)
            if code == EXIT_INVALID and not keep_going and i + 1 < test_count:
                console.print(f"stopping at the first invalid test ({i + 1} of {test_count}); "
                              "--keep-going runs the rest")
                break
    if test_count > 1:
        console.print(f"{len(codes)} tests: {codes.count(0)} valid, "
                      f"{codes.count(EXIT_INVALID)} invalid, {codes.count(EXIT_UNKNOWN)} unknown")
    return worst_exit_code(codes)

