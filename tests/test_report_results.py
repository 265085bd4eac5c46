"""reports.results: the results.json object, its schema, reading it back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checkers.result import UNKNOWN, Anomaly, Result
from harness.errors import InputError
from reports.results import (
    SCHEMA_VERSION,
    build_results,
    checker_parts,
    exit_code_for,
    read_results,
    rerun_command,
    schema_problems,
    write_results,
)

TEST = {"name": "reg", "workload": "register", "nemesis": ["partition"], "nodes": ["n1", "n2"],
        "concurrency": 3, "seed": 7, "future_field": {"x": 1}}
PERF = {"duration_s": 1.5, "ops": {"ok": 3, "fail": 1, "info": 0, "pending": 0}}


def composed() -> Result:
    lin = Result("linearizable", False, "not linearizable",
                 anomalies=(Anomaly("nonlinearizable", "read of 1 after write of 2", (4, 5)),),
                 details={"counterexample": {"ops": [], "failing": 5, "sentence": "s"}})
    stats = Result("stats", True, "all fs had ok ops")
    timeline = Result("set", UNKNOWN, "gave up", error="timeout")
    return Result("compose", False, "linearizable: invalid", details={
        "linearizable": lin.to_dict(), "stats": stats.to_dict(), "set": timeline.to_dict()})


def test_single_checker_results() -> None:
    checks = Result("linearizable", True, "3 ops are linearizable")
    r = build_results(test=TEST, checks=checks, perf=PERF,
                      run={"run_dir": "store/reg/20250101T000000Z",
                           "started": "2025-01-01T00:00:00+00:00"})
    assert schema_problems(r) == []
    assert r["schema_version"] == SCHEMA_VERSION
    assert (r["valid"], r["verdict"], r["exit_code"]) == (True, "valid", 0)
    assert r["run"]["name"] == "reg"  # defaults to the test's name
    assert r["run"]["ops"] == 4  # defaults to the perf counts
    assert r["run"]["errors"] == []
    assert r["run"]["backend"] is None
    assert r["rerun"] == "chaos run --test-file store/reg/20250101T000000Z/test.json"
    assert r["test"]["future_field"] == {"x": 1}  # unknown fields are kept
    assert [c["checker"] for c in r["checkers"]] == ["linearizable"]
    assert r["anomalies"] == []
    json.dumps(r)  # plain JSON


def test_composed_checker_is_flattened() -> None:
    r = build_results(test=TEST, checks=composed(), perf=PERF, run={"exit_code": 1})
    assert r["verdict"] == "invalid"
    assert [(c["checker"], c["valid"]) for c in r["checkers"]] == [
        ("linearizable", False), ("stats", True), ("set", "unknown")]
    assert r["checkers"][0]["details"]["counterexample"]["failing"] == 5
    assert r["anomalies"] == [{"kind": "nonlinearizable",
                               "explanation": "read of 1 after write of 2",
                               "ops": [4, 5], "data": {}, "checker": "linearizable"}]
    assert r["exit_code"] == 1


def test_checker_parts_accepts_a_results_list() -> None:
    a, b = Result("a", True), Result("b", False)
    merged = Result("all", False, details={"results": [a.to_dict(), b.to_dict()]})
    assert [p["checker"] for p in checker_parts(merged.to_dict())] == ["a", "b"]


def test_exit_codes_follow_the_verdict() -> None:
    assert [exit_code_for(v) for v in (True, False, UNKNOWN)] == [0, 1, 3]
    r = build_results(test={}, checks=Result("x", UNKNOWN), perf={}, run={})
    assert (r["verdict"], r["exit_code"], r["rerun"]) == ("unknown", 3, None)


def test_non_json_values_become_json() -> None:
    checks = Result("x", True, details={"keys": ("a", "b"), "set": frozenset({2, 1}),
                                        "path": Path("p")})
    r = build_results(test={"nodes": ("n1",)}, checks=checks, perf={}, run={})
    assert r["checkers"][0]["details"] == {"keys": ["a", "b"], "set": [1, 2], "path": "p"}
    assert r["test"]["nodes"] == ["n1"]


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    r = build_results(test=TEST, checks=composed(), perf=PERF, run={})
    path = write_results(tmp_path / "results.json", r)
    assert read_results(path) == r


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not readable JSON"),
    ("[1, 2]", "it is not a JSON object"),
    ('{"schema_version": 1}', "lacks the key 'valid'"),
])
def test_bad_results_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_results(path)


def test_missing_results_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_results(tmp_path / "results.json")


def test_schema_problems_of_wrong_values() -> None:
    r = build_results(test=TEST, checks=Result("x", True), perf=PERF, run={})
    assert schema_problems(r | {"valid": "maybe"}) == [
        'valid \'maybe\' is not true, false or "unknown"']
    assert schema_problems(r | {"schema_version": 99}) == ["schema_version 99 is not 1"]
    assert schema_problems(r | {"checkers": [{"x": 1}]}) == [
        "checkers is not a list of checker results"]


def test_rerun_command_quotes_paths() -> None:
    assert rerun_command("store/my test/1") == "chaos run --test-file 'store/my test/1/test.json'"


def test_schema_doc_names_every_top_level_key() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "results-schema.md").read_text()
    r = build_results(test=TEST, checks=composed(), perf=PERF, run={})
    for key in r:
        assert f"`{key}`" in doc, f"docs/results-schema.md does not document {key!r}"
    for key in r["run"]:
        assert f"`{key}`" in doc, f"docs/results-schema.md does not document run.{key}"
    for key in ("duration_s", "ops", "throughput", "latency_ms", "by_f", "nemesis", "windows",
                "calm"):
        assert f"`{key}`" in doc


def test_checker_parts_reads_the_composed_checkers_results() -> None:
    from checkers.compose import compose

    class Fixed:
        def __init__(self, name: str, valid: bool) -> None:
            self.name = name
            self.valid = valid

        def check(self, history: list[Any]) -> Result:
            return Result(checker=self.name, valid=self.valid, summary=self.name)

    merged = compose({"lin": Fixed("linearizable (cas-register)", True),
                      "set": Fixed("set-full", False)}).check([])
    parts = checker_parts(merged.to_dict())
    assert [(p["checker"], p["valid"]) for p in parts] == [
        ("linearizable (cas-register)", True), ("set-full", False)]
