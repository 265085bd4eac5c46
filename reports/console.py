"""The console summary of a run: what a person reads in the terminal (or the CI log).

A verdict banner with the test's name and parameters, a table of the checkers, a table
of operations per ``f`` (counts, throughput and latency quantiles), each anomaly with
its sentence (and the counterexample's, when there is one), and where the report is and
how to rerun. Everything comes from a results.json object; the console is passed in,
so tests render to a recording console.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

VERDICT_STYLE: Final = {"valid": "bold white on green4", "invalid": "bold white on red3",
                        "unknown": "bold black on dark_orange"}
VERDICT_COLOR: Final = {"valid": "green", "invalid": "red", "unknown": "dark_orange"}
VERDICT_MARK: Final = {"valid": "✓ VALID", "invalid": "✗ INVALID", "unknown": "? UNKNOWN"}
PARAM_KEYS: Final = ("workload", "nemesis", "nodes", "concurrency", "rate", "time_limit",
                     "seed", "read_mode", "backend", "unsafe")


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def _ms(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.1f}"


def verdict_banner(results: Mapping[str, Any]) -> Panel:
    """The verdict, the test's name, its parameters and its headline counts."""
    verdict = str(results.get("verdict", "unknown"))
    run = results.get("run") or {}
    test = results.get("test") or {}
    perf = results.get("perf") or {}
    title = Text.assemble((f" {VERDICT_MARK.get(verdict, verdict)} ", VERDICT_STYLE.get(
        verdict, "bold")), "  ", (str(run.get("name") or test.get("name") or "run"), "bold"))
    params = Text("  ".join(f"{k}={_fmt(test[k])}" for k in PARAM_KEYS
                            if test.get(k) not in (None, [], "")), style="dim")
    ops = perf.get("ops") or {}
    counts = Text.assemble(
        ("ops ", "dim"), (str(sum(int(v) for v in ops.values())), "bold"), "  ",
        ("ok ", "dim"), (str(ops.get("ok", 0)), "green"), "  ",
        ("fail ", "dim"), (str(ops.get("fail", 0)), "red"), "  ",
        ("info ", "dim"), (str(ops.get("info", 0)), "yellow"), "  ",
        ("duration ", "dim"), f"{_fmt(run.get('duration_s') or perf.get('duration_s'))} s")
    lines: list[Any] = [title, params, counts]
    if results.get("summary"):
        lines.append(Text(str(results["summary"])))
    return Panel(Group(*lines), border_style=VERDICT_COLOR.get(verdict, "white"), expand=True)


def checkers_table(results: Mapping[str, Any]) -> Table:
    """One row per checker: its verdict and summary."""
    table = Table(title="Checkers", title_justify="left", expand=False)
    table.add_column("checker")
    table.add_column("verdict")
    table.add_column("summary", overflow="fold")
    for c in results.get("checkers") or []:
        word = {True: "valid", False: "invalid"}.get(c.get("valid"), "unknown")
        anomalies = c.get("anomalies") or []
        if word == "invalid" and anomalies:
            kinds = sorted({str(a.get("kind")) for a in anomalies})
            what = f"{len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'}: " + ", ".join(
                kinds)
        else:
            what = str(c.get("error") or c.get("summary") or "")
        table.add_row(str(c.get("checker")), Text(word, style=VERDICT_COLOR[word]), what)
    return table


def ops_table(perf: Mapping[str, Any]) -> Table:
    """Counts, ok throughput and ok latency quantiles per ``f`` and overall."""
    table = Table(title="Operations (latency of ok ops, ms)", title_justify="left")
    for col in ("f", "ok", "fail", "info", "pending", "ok/s", "p50", "p95", "p99", "max"):
        table.add_column(col, justify="left" if col == "f" else "right")

    def row(name: str, ops: Mapping[str, Any], per_s: object, lat: Mapping[str, Any],
            style: str = "") -> None:
        table.add_row(name, str(ops.get("ok", 0)), str(ops.get("fail", 0)),
                      str(ops.get("info", 0)), str(ops.get("pending", 0)), _fmt(per_s),
                      _ms(lat.get("p50")), _ms(lat.get("p95")), _ms(lat.get("p99")),
                      _ms(lat.get("max")), style=style)

    for f, g in (perf.get("by_f") or {}).items():
        row(f, g.get("ops") or {}, g.get("ok_per_s"), g.get("latency_ms") or {})
    row("all", perf.get("ops") or {}, (perf.get("throughput") or {}).get("ok_per_s"),
        perf.get("latency_ms") or {}, style="bold")
    return table


def anomaly_lines(results: Mapping[str, Any]) -> list[Text]:
    """Each anomaly as ``kind (checker): sentence``, then counterexample sentences that no
    anomaly already said."""
    anomalies = results.get("anomalies") or []
    lines = [Text.assemble((str(a.get("kind")), "bold red"), (f" ({a.get('checker')}): ", "dim"),
                           str(a.get("explanation")))
             for a in anomalies]
    said = {str(a.get("explanation")) for a in anomalies}
    for c in results.get("checkers") or []:
        cx = (c.get("details") or {}).get("counterexample")
        if isinstance(cx, Mapping) and cx.get("sentence") and str(cx["sentence"]) not in said:
            lines.append(Text.assemble(("counterexample", "bold red"),
                                       (f" ({c.get('checker')}): ", "dim"), str(cx["sentence"])))
    return lines


def print_summary(results: Mapping[str, Any], console: Console) -> None:
    """Print the summary of a results.json object to ``console``."""
    console.print(verdict_banner(results))
    if results.get("checkers"):
        console.print(checkers_table(results))
    perf = results.get("perf") or {}
    if perf.get("ops"):
        console.print(ops_table(perf))
    anomalies = anomaly_lines(results)
    if anomalies:
        console.print(Text("Anomalies", style="bold"))
        for line in anomalies:
            console.print(line)
    for err in (results.get("run") or {}).get("errors") or []:
        console.print(Text.assemble(("run error: ", "bold red"), str(err)))
    run_dir = (results.get("run") or {}).get("run_dir")
    if run_dir:
        console.print(Text.assemble(("report: ", "dim"), str(Path(run_dir) / "report.html")),
                      soft_wrap=True)
    if results.get("rerun"):
        console.print(Text.assemble(("rerun:  ", "dim"), str(results["rerun"])), soft_wrap=True)
