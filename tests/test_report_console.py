"""reports.console: the rich summary, rendered to a recording console."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from checkers.result import UNKNOWN, Anomaly, Result
from reports.console import print_summary
from reports.perf import perf_summary
from reports.results import build_results
from reports.synthetic import synthetic_history

TEST = {"name": "reg-partition", "workload": "register", "nemesis": ["partition"],
        "nodes": ["n1", "n2", "n3"], "concurrency": 5, "seed": 42}


def rendered(results: dict[str, Any]) -> str:
    console = Console(record=True, width=120, color_system=None)
    print_summary(results, console)
    return console.export_text()


def test_valid_summary_has_verdict_counts_and_latency_table() -> None:
    perf = perf_summary(synthetic_history(300))
    text = rendered(build_results(test=TEST, checks=Result("linearizable", True, "fine"),
                                  perf=perf, run={"run_dir": "store/r/1"}))
    assert "✓ VALID" in text and "reg-partition" in text
    assert "seed=42" in text and "nemesis=partition" in text
    ok = perf["ops"]["ok"]
    assert f"ok {ok}" in text
    for header in ("f", "ok", "fail", "info", "p50", "p95", "p99", "max"):
        assert header in text
    for f in ("read", "write", "cas", "all"):
        assert f"│ {f} " in text
    assert "report: store/r/1/report.html" in text
    assert "rerun:  chaos run --test-file store/r/1/test.json" in text
    assert "Anomalies" not in text


def test_invalid_summary_lists_each_anomaly_with_its_sentence() -> None:
    a1 = Anomaly("nonlinearizable", "Read of key 'k1' returned 1, but the write of 3 completed")
    a2 = Anomaly("lost", "element 7 was acknowledged but never read")
    checks = Result("all", False, details={
        "linearizable": Result("linearizable", False, "bad", (a1,), details={
            "counterexample": {"sentence": a1.explanation, "ops": [], "failing": 0}}).to_dict(),
        "set": Result("set", False, "lost 1", (a2,)).to_dict(),
        "bank": Result("bank", UNKNOWN, error="gave up after 60 s").to_dict()})
    text = rendered(build_results(test=TEST, checks=checks, perf={}, run={
        "errors": ["healing the cluster: timeout"]}))
    assert "✗ INVALID" in text
    assert f"nonlinearizable (linearizable): {a1.explanation}" in text
    assert f"lost (set): {a2.explanation}" in text
    assert text.count(a1.explanation) == 1  # the counterexample's sentence is not repeated
    assert "1 anomaly: nonlinearizable" in text
    assert "gave up after 60 s" in text
    assert "run error: healing the cluster: timeout" in text


def test_unknown_summary() -> None:
    text = rendered(build_results(test={}, checks=Result("x", UNKNOWN), perf={}, run={}))
    assert "? UNKNOWN" in text
