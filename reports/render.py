"""Render a stored run: read its directory, write junit.xml and report.html beside it.

A run directory (``store/<test-name>/<timestamp>/``, see DESIGN.md) holds
``history.jsonl``, ``test.json``, ``results.json`` and ``nodes/<node>/`` logs. The
reports are derived from those files alone, so ``chaos report RUN_DIR`` can rebuild
them at any time, on any machine (a CI artefact, a colleague's laptop). A report never
re-checks: when ``results.json`` is missing (the run died before its checkers ran) the
report still shows the history, with the verdict ``unknown`` and that reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from checkers.result import UNKNOWN, Result
from harness.errors import InputError
from harness.history import read_history
from harness.op import Op
from reports.html import render_report
from reports.junit import write_junit
from reports.nodelogs import read_node_logs
from reports.perf import perf_summary
from reports.results import build_results, read_results

HISTORY: Final = "history.jsonl"
TEST: Final = "test.json"
RESULTS: Final = "results.json"
JUNIT: Final = "junit.xml"
REPORT: Final = "report.html"
MAX_LISTED_FILES: Final = 200


def read_test(path: Path) -> dict[str, Any]:
    """The test description of a run (an empty one when the file is missing)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object describing the test")
    return data


def load_run(run_dir: Path) -> tuple[dict[str, Any], list[Op]]:
    """The results.json object and the history of a run directory.

    Raises InputError when the directory is not a run directory or a file in it is bad."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    history_path, results_path = run_dir / HISTORY, run_dir / RESULTS
    if not history_path.exists() and not results_path.exists():
        raise InputError(f"{run_dir}: not a run directory (it has neither {HISTORY} nor "
                         f"{RESULTS})")
    history = read_history(history_path) if history_path.exists() else []
    if results_path.exists():
        return read_results(results_path), history
    test = read_test(run_dir / TEST)
    checks = Result("run", UNKNOWN, summary="this run has no results.json",
                    error=f"no {RESULTS}: the run ended before its history was checked; "
                          f"`chaos check` can check {HISTORY}")
    results = build_results(test=test, checks=checks, perf=perf_summary(history), run={
        "name": test.get("name") or run_dir.parent.name, "run_dir": str(run_dir),
        "errors": [f"no {RESULTS} in the run directory"]})
    return results, history


def run_files(run_dir: Path) -> list[tuple[str, int]]:
    """The files of a run directory as (path relative to it, size), for links."""
    files = []
    for p in sorted(run_dir.rglob("*")):
        if p.is_file() and p.name not in (REPORT,):
            files.append((p.relative_to(run_dir).as_posix(), p.stat().st_size))
        if len(files) >= MAX_LISTED_FILES:
            break
    return files


def render_run(run_dir: Path) -> list[Path]:
    """Write ``junit.xml`` and ``report.html`` into a run directory; return their paths."""
    run_dir = Path(run_dir)
    results, history = load_run(run_dir)
    junit = write_junit(run_dir / JUNIT, results)
    html = render_report(results=_with_run_dir(results, run_dir), history=history,
                         node_logs=read_node_logs(run_dir / "nodes"), files=run_files(run_dir),
                         run_dir=str(run_dir))
    report = run_dir / REPORT
    report.write_text(html, encoding="utf-8")
    return [junit, report]


def _with_run_dir(results: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """The results with ``run.run_dir`` filled in when the runner left it out."""
    run = dict(results.get("run") or {})
    run.setdefault("run_dir", str(run_dir))
    if not run.get("run_dir"):
        run["run_dir"] = str(run_dir)
    return dict(results) | {"run": run}
