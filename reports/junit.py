"""junit.xml: a run as a JUnit test suite, so any CI shows the verdict natively.

One ``<testsuite>`` per run (named after the test, with its parameters as properties)
holding one ``<testcase>`` per checker. An invalid checker's testcase carries a
``<failure>`` whose message is the checker's summary and whose text is every anomaly's
explanation, the counterexample's sentence, the rerun command and where the report is;
a checker that gave up (``unknown``) carries an ``<error>``. Errors of the run itself
(cluster never healthy, interrupted) become an extra ``run`` testcase with an
``<error>``. Built from a results.json object; pure apart from :func:`write_junit`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

PROPERTY_KEYS: Final = ("workload", "nemesis", "nodes", "concurrency", "rate", "time_limit",
                        "seed", "read_mode", "backend", "unsafe")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    """A value as XML-safe text (lists joined with commas, illegal characters dropped)."""
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    return _XML_ILLEGAL.sub("", "" if value is None else str(value))


def _failure_text(checker: Mapping[str, Any], results: Mapping[str, Any]) -> str:
    lines: list[str] = []
    for a in checker.get("anomalies") or []:
        lines.append(f"[{a.get('kind')}] {a.get('explanation')}")
    cx = (checker.get("details") or {}).get("counterexample")
    if isinstance(cx, Mapping) and cx.get("sentence"):
        lines.append(f"counterexample: {cx['sentence']}")
    if checker.get("error"):
        lines.append(f"error: {checker['error']}")
    run_dir = (results.get("run") or {}).get("run_dir")
    if results.get("rerun"):
        lines.append(f"rerun: {results['rerun']}")
    if run_dir:
        lines.append(f"report: {Path(run_dir) / 'report.html'}")
    return "\n".join(lines)


def junit_tree(results: Mapping[str, Any]) -> ET.Element:
    """The ``<testsuites>`` element for a results.json object."""
    run = results.get("run") or {}
    test = results.get("test") or {}
    name = _text(run.get("name") or test.get("name") or "chaos")
    duration = run.get("duration_s") or (results.get("perf") or {}).get("duration_s") or 0
    checkers = list(results.get("checkers") or [])
    run_errors = [str(e) for e in run.get("errors") or []]

    suite = ET.Element("testsuite", {"name": name, "time": f"{float(duration):.3f}"})
    if run.get("started"):
        suite.set("timestamp", _text(run["started"]))
    props = ET.SubElement(suite, "properties")
    for key in PROPERTY_KEYS:
        if test.get(key) is not None:
            ET.SubElement(props, "property", {"name": key, "value": _text(test[key])})
    ET.SubElement(props, "property", {"name": "verdict", "value": _text(results.get("verdict"))})
    if results.get("rerun"):
        ET.SubElement(props, "property", {"name": "rerun", "value": _text(results["rerun"])})

    failures = errors = 0
    for checker in checkers:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"raft-chaos.{name}", "name": _text(checker.get("checker"))})
        valid = checker.get("valid")
        summary = _text(checker.get("summary") or "")
        if valid is False:
            failures += 1
            kinds = sorted({str(a.get("kind")) for a in checker.get("anomalies") or []})
            el = ET.SubElement(case, "failure", {
                "type": ",".join(kinds) or "invalid",
                "message": summary or f"{checker.get('checker')} found the history invalid"})
            el.text = _text(_failure_text(checker, results))
        elif valid is not True:  # "unknown", the only other verdict
            errors += 1
            el = ET.SubElement(case, "error", {
                "type": "unknown",
                "message": _text(checker.get("error") or summary or "the checker gave up")})
            el.text = _text(_failure_text(checker, results))
    if run_errors:
        errors += 1
        case = ET.SubElement(suite, "testcase", {"classname": f"raft-chaos.{name}",
                                                 "name": "run"})
        el = ET.SubElement(case, "error", {"type": "run", "message": _text(run_errors[0])})
        el.text = _text("\n".join(run_errors))
    tests = len(checkers) + (1 if run_errors else 0)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    out = ET.SubElement(suite, "system-out")
    out.text = _text(f"verdict: {results.get('verdict')}\nrerun: {results.get('rerun') or '-'}")

    root = ET.Element("testsuites", {"name": "raft-chaos", "tests": str(tests),
                                     "failures": str(failures), "errors": str(errors),
                                     "time": suite.get("time", "0")})
    root.append(suite)
    return root


def junit_xml(results: Mapping[str, Any]) -> str:
    """The junit.xml text for a results.json object."""
    root = junit_tree(results)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, results: Mapping[str, Any]) -> Path:
    """Write junit.xml and return its path."""
    path.write_text(junit_xml(results), encoding="utf-8")
    return path
