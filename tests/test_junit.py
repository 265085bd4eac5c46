"""reports.junit: junit.xml parsed back and checked, for valid, invalid and unknown runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from checkers.result import UNKNOWN, Anomaly, Result
from reports.junit import junit_xml, write_junit
from reports.results import build_results

TEST = {"name": "reg-partition", "workload": "register", "nemesis": ["partition", "kill"],
        "nodes": ["n1", "n2", "n3"], "seed": 42}


def parse(results: dict[str, Any]) -> ET.Element:
    text = junit_xml(results)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text)


def results_of(checks: Result, **run: object) -> dict[str, Any]:
    return build_results(test=TEST, checks=checks, perf={"duration_s": 12.5},
                         run={"run_dir": "store/reg-partition/1", "duration_s": 14.25,
                              "started": "2025-03-14T02:30:00+00:00"} | run)


def test_valid_run_is_a_passing_suite() -> None:
    root = parse(results_of(Result("linearizable", True, "fine")))
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "reg-partition"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    assert suite.get("time") == "14.250"
    assert suite.get("timestamp") == "2025-03-14T02:30:00+00:00"
    [case] = suite.findall("testcase")
    assert case.get("name") == "linearizable"
    assert case.get("classname") == "raft-chaos.reg-partition"
    assert list(case) == []
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] == "42"
    assert props["nemesis"] == "partition,kill"
    assert props["nodes"] == "n1,n2,n3"
    assert props["verdict"] == "valid"
    assert props["rerun"] == "chaos run --test-file store/reg-partition/1/test.json"


def test_invalid_checker_carries_the_explanation() -> None:
    sentence = "Read of key 'k1' returned 1 at 6.17 s, but the write of 3 completed before"
    lin = Result("linearizable", False, "not linearizable",
                 anomalies=(Anomaly("nonlinearizable", sentence, (3, 4)),),
                 details={"counterexample": {"ops": [], "failing": 4, "sentence": sentence}})
    ok = Result("set", True, "every element present")
    checks = Result("compose", False, details={"linearizable": lin.to_dict(),
                                               "set": ok.to_dict()})
    root = parse(results_of(checks))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"linearizable", "set"}
    failure = cases["linearizable"].find("failure")
    assert failure is not None
    assert failure.get("type") == "nonlinearizable"
    assert failure.get("message") == "not linearizable"
    assert failure.text is not None
    assert f"[nonlinearizable] {sentence}" in failure.text
    assert f"counterexample: {sentence}" in failure.text
    assert "rerun: chaos run --test-file store/reg-partition/1/test.json" in failure.text
    assert "report: store/reg-partition/1/report.html" in failure.text
    assert cases["set"].find("failure") is None
    assert root.get("failures") == "1"


def test_unknown_checker_is_an_error() -> None:
    root = parse(results_of(Result("linearizable", UNKNOWN, "gave up", error="time limit 60 s")))
    case = root.find("testsuite/testcase")
    assert case is not None
    error = case.find("error")
    assert error is not None
    assert error.get("type") == "unknown"
    assert error.get("message") == "time limit 60 s"
    assert root.get("errors") == "1"


def test_run_errors_become_a_run_testcase() -> None:
    root = parse(results_of(Result("linearizable", True), errors=["cluster never healthy",
                                                                   "interrupted"]))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    error = cases["run"].find("error")
    assert error is not None
    assert error.get("message") == "cluster never healthy"
    assert error.text == "cluster never healthy\ninterrupted"
    assert root.get("tests") == "2"


def test_text_that_xml_cannot_hold_is_dropped(tmp_path: Path) -> None:
    nasty = "value \x00\x07 <b>&amp; \"quoted\""
    checks = Result("x", False, nasty, anomalies=(Anomaly("odd", nasty),))
    path = write_junit(tmp_path / "junit.xml", results_of(checks))
    failure = ET.parse(path).getroot().find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "value  <b>&amp; \"quoted\""
    assert failure.text is not None and "[odd] value  <b>&amp;" in failure.text
