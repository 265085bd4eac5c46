"""The run index: every run in a store, newest first, as data and as a page.

A store holds ``<test-name>/<timestamp>/`` run directories (``latest`` symlinks are
skipped, so each run is listed once). Each run is summarised from its results.json
(verdict, operations, duration) and test.json (workload, nemesis); a run that has no
results yet (still running, or died before its checkers) is listed as ``unknown`` with
that note, and one whose results.json is unreadable says so instead of breaking the
index. ``chaos serve`` renders this page on every request, so new runs appear on reload.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from harness.errors import InputError
from reports.html import page
from reports.results import read_results

RUN_FILES: Final = ("report.html", "results.json", "history.jsonl", "junit.xml", "test.json")
RUN_MARKERS: Final = ("results.json", "history.jsonl", "test.json")


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One run as the index lists it."""

    name: str
    path: str  # the run directory, relative to the store, with "/" separators
    started: datetime
    verdict: str  # valid, invalid, unknown
    workload: str
    nemesis: str
    ops: int | None
    duration_s: float | None
    files: tuple[str, ...]  # which of RUN_FILES exist, plus "nodes/" when there are logs
    note: str = ""


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and any(
        (path / m).is_file() for m in RUN_MARKERS)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "none"
    return "" if value is None else str(value)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def run_entry(store: Path, run_dir: Path) -> RunEntry:
    """The index entry of one run directory (never raises for a bad run)."""
    note = ""
    results: dict[str, Any] = {}
    if (run_dir / "results.json").is_file():
        try:
            results = read_results(run_dir / "results.json")
        except InputError as e:
            note = f"unreadable results.json: {e}"
    else:
        note = "no results.json (running, or the run died before checking)"
    test: dict[str, Any] = dict(results.get("test") or {})
    if not test and (run_dir / "test.json").is_file():
        try:
            loaded = json.loads((run_dir / "test.json").read_text(encoding="utf-8"))
            test = loaded if isinstance(loaded, dict) else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            note = note or "unreadable test.json"
    run = results.get("run") or {}
    perf = results.get("perf") or {}
    started = (_parse_time(run.get("started")) or _parse_time(test.get("started"))
               or datetime.fromtimestamp(run_dir.stat().st_mtime, UTC))
    ops = perf.get("ops")
    files = [f for f in RUN_FILES if (run_dir / f).is_file()]
    if (run_dir / "nodes").is_dir():
        files.append("nodes/")
    duration = run.get("duration_s", perf.get("duration_s"))
    return RunEntry(
        name=str(run.get("name") or test.get("name") or run_dir.parent.name),
        path=run_dir.relative_to(store).as_posix(),
        started=started,
        verdict=str(results.get("verdict") or "unknown"),
        workload=_text(test.get("workload")),
        nemesis=_text(test.get("nemesis")),
        ops=sum(int(v) for v in ops.values()) if isinstance(ops, dict) else None,
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        files=tuple(files),
        note=note,
    )


def find_runs(store: Path) -> list[RunEntry]:
    """Every run under ``store`` (``<test-name>/<timestamp>/``), newest first."""
    if not store.is_dir():
        raise InputError(f"{store}: no such store directory")
    runs = []
    for test_dir in sorted(store.iterdir()):
        if not test_dir.is_dir() or test_dir.is_symlink():
            continue
        if _is_run_dir(test_dir):  # a run directly under the store
            runs.append(run_entry(store, test_dir))
            continue
        for run_dir in sorted(test_dir.iterdir()):
            if _is_run_dir(run_dir):
                runs.append(run_entry(store, run_dir))
    return sorted(runs, key=lambda r: (r.started, r.path), reverse=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def render_index(runs: Sequence[RunEntry], store_label: str) -> str:
    """The index page: a table of runs, newest first, with links to their files."""
    counts = {v: sum(1 for r in runs if r.verdict == v) for v in ("valid", "invalid", "unknown")}
    rows = []
    for r in runs:
        base = "/".join(quote(part) for part in r.path.split("/"))
        name_cell = (f'<a href="{base}/report.html">{escape(r.name)}</a>'
                     if "report.html" in r.files else escape(r.name))
        links = " ".join(f'<a href="{base}/{quote(f)}">{escape(f.rstrip("/"))}</a>'
                         for f in r.files)
        note = f'<div class="muted">{escape(r.note)}</div>' if r.note else ""
        rows.append(
            f'<tr data-search="{escape(" ".join((r.name, r.verdict, r.workload, r.nemesis)))}">'
            f'<td class="l">{escape(r.started.strftime("%Y-%m-%d %H:%M:%S %Z"))}</td>'
            f'<td class="l">{name_cell}{note}</td>'
            f'<td class="l verdict {escape(r.verdict)}">{escape(r.verdict.upper())}</td>'
            f'<td class="l">{escape(r.workload)}</td><td class="l">{escape(r.nemesis)}</td>'
            f'<td>{"-" if r.ops is None else f"{r.ops:,}"}</td><td>{_duration(r.duration_s)}</td>'
            f'<td class="l">{links}</td></tr>')
    table = (
        '<table class="data runs"><thead><tr><th class="l">started</th><th class="l">test</th>'
        '<th class="l">verdict</th><th class="l">workload</th><th class="l">nemesis</th>'
        '<th>ops</th><th>duration</th><th class="l">files</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>' if runs else
        '<p class="muted">No runs in this store yet: <code>chaos run ...</code> adds one.</p>')
    body = (
        '<header class="banner index valid" style="background:#343a40"><div class="inner">'
        f'<div><h1>raft-chaos runs</h1><div class="sub">{escape(store_label)} · {len(runs)} runs'
        f' · {counts["valid"]} valid · {counts["invalid"]} invalid · {counts["unknown"]} unknown'
        "</div></div></div></header><main>"
        '<div class="toolbar" style="margin-top:16px"><label>filter <input id="filter" '
        'type="search" placeholder="name, verdict, workload, nemesis"></label></div>'
        f"{table}</main>")
    script = ("document.getElementById('filter').addEventListener('input',function(e){"
              "var q=e.target.value.toLowerCase();document.querySelectorAll('tr[data-search]')"
              ".forEach(function(r){r.hidden=q&&r.dataset.search.toLowerCase().indexOf(q)<0;});"
              "});document.documentElement.setAttribute('data-ready','1');")
    return page(f"raft-chaos runs · {store_label}", body, script=script)
