"""results.json: the machine-readable outcome of one run, and its schema.

One JSON object per run (documented field by field in docs/results-schema.md): the
verdict and exit code, the run's metadata, the test description, every checker's
result flattened into a list (a composed checker's parts become one entry each), all
anomalies with the checker that found them, and the performance summary of
:func:`reports.perf.perf_summary`. :func:`build_results` makes it, :func:`read_results`
reads one back and says in one line what is wrong with a file that does not follow the
schema. Pure apart from the two small file helpers.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from checkers.result import UNKNOWN, Result, Valid
from harness import __version__
from harness.errors import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError

SCHEMA_VERSION: Final = 1
VERDICTS: Final = {True: "valid", False: "invalid", UNKNOWN: "unknown"}
RUN_KEYS: Final = ("name", "run_dir", "started", "history_started", "duration_s", "exit_code",
                   "backend", "backend_note", "ops", "errors")
REQUIRED_KEYS: Final = ("schema_version", "valid", "verdict", "exit_code", "run", "test",
                        "checkers", "anomalies", "perf")


def verdict_word(valid: Valid) -> str:
    """``valid``, ``invalid`` or ``unknown``."""
    return VERDICTS[valid]


def exit_code_for(valid: Valid) -> int:
    """The exit code a verdict maps to: 0 valid, 1 invalid, 3 unknown."""
    return {True: EXIT_VALID, False: EXIT_INVALID, UNKNOWN: EXIT_UNKNOWN}[valid]


def is_result_dict(value: object) -> bool:
    """Whether a value looks like ``Result.to_dict()`` output."""
    return isinstance(value, Mapping) and "checker" in value and "valid" in value


def checker_parts(checks: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The results of the individual checkers inside a (possibly composed) result dict.

    A composed result (``checkers.compose``) keeps each part's ``Result.to_dict()`` by
    name under ``details["results"]`` (a list there, or results keyed directly under
    ``details``, are read too); a plain result is its own single part."""
    details = checks.get("details") or {}
    parts: list[dict[str, Any]] = []
    if isinstance(details, Mapping):
        nested = details.get("results")
        if isinstance(nested, list) and nested and all(is_result_dict(r) for r in nested):
            parts = [dict(r) for r in nested]
        else:
            named = nested if isinstance(nested, Mapping) else details
            for name, sub in named.items():
                if is_result_dict(sub):
                    parts.append(dict(sub) | {"checker": sub.get("checker") or str(name)})
    if not parts:
        return [dict(checks)]
    flat: list[dict[str, Any]] = []
    for part in parts:
        flat.extend(checker_parts(part))
    return flat


def rerun_command(run_dir: str | Path) -> str:
    """The command that reruns a stored test (shell-quoted for display)."""
    return shlex.join(["chaos", "run", "--test-file", str(Path(run_dir) / "test.json")])


def build_results(*, test: Mapping[str, Any], checks: Result, perf: Mapping[str, Any],
                  run: Mapping[str, Any]) -> dict[str, Any]:
    """The results.json object of one run (schema in docs/results-schema.md).

    ``run`` holds name, run_dir, started (ISO 8601), history_started (the wall-clock
    time of the history's time 0, to place node log lines on the timeline), duration_s,
    exit_code, backend, backend_note, ops, errors; missing keys become null (errors: []),
    unknown keys are kept. The exit code defaults to the one the verdict maps to."""
    merged = checks.to_dict()
    parts = checker_parts(merged)
    run_out: dict[str, Any] = {k: run.get(k) for k in RUN_KEYS} | {
        k: v for k, v in run.items() if k not in RUN_KEYS}
    run_out["errors"] = [str(e) for e in (run.get("errors") or [])]
    if run_out["exit_code"] is None:
        run_out["exit_code"] = exit_code_for(checks.valid)
    if run_out["ops"] is None:
        run_out["ops"] = sum(int(v) for v in (perf.get("ops") or {}).values())
    if run_out["name"] is None:
        run_out["name"] = test.get("name")
    anomalies = [a | {"checker": part.get("checker")}
                 for part in parts for a in part.get("anomalies", [])]
    return _json_ready({
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "raft-chaos", "version": __version__},
        "valid": checks.valid,
        "verdict": verdict_word(checks.valid),
        "summary": merged.get("summary") or _summary(parts),
        "exit_code": run_out["exit_code"],
        "rerun": rerun_command(run_out["run_dir"]) if run_out.get("run_dir") else None,
        "run": run_out,
        "test": dict(test),
        "checker": merged.get("checker"),
        "error": merged.get("error"),
        "checkers": parts,
        "anomalies": anomalies,
        "perf": dict(perf),
    })


def _summary(parts: list[dict[str, Any]]) -> str:
    return "; ".join(f"{p.get('checker')}: {verdict_word(p['valid'])}" for p in parts
                     if p.get("valid") in VERDICTS)


def _json_ready(value: Any) -> Any:
    """A deep copy made only of JSON types (tuples become lists, other objects strings)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_json_ready(v) for v in value), key=str)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def schema_problems(results: object) -> list[str]:
    """What makes an object not a results.json of this schema (empty when it is one)."""
    if not isinstance(results, Mapping):
        return ["it is not a JSON object"]
    problems = [f"it lacks the key {k!r}" for k in REQUIRED_KEYS if k not in results]
    if problems:
        return problems
    if results["schema_version"] != SCHEMA_VERSION:
        problems.append(f"schema_version {results['schema_version']!r} is not {SCHEMA_VERSION}")
    if results["valid"] not in (True, False, UNKNOWN):
        problems.append(f"valid {results['valid']!r} is not true, false or \"unknown\"")
    if not isinstance(results["checkers"], list) or not all(
            is_result_dict(c) for c in results["checkers"]):
        problems.append("checkers is not a list of checker results")
    for key in ("run", "test", "perf"):
        if not isinstance(results[key], Mapping):
            problems.append(f"{key} is not an object")
    return problems


def read_results(path: Path) -> dict[str, Any]:
    """A results.json read back; raises InputError saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not readable JSON ({e})") from None
    problems = schema_problems(data)
    if problems:
        raise InputError(f"{path}: not a raft-chaos results file: {problems[0]}")
    assert isinstance(data, dict)
    return data


def write_results(path: Path, results: Mapping[str, Any]) -> Path:
    """Write results.json (indented, UTF-8) and return its path."""
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
