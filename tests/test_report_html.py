"""report.html from store directories: valid and invalid runs, odd inputs, a 100k-op run."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from checkers.result import Result
from harness.errors import InputError
from harness.history import read_history
from harness.op import Op
from reports import render_run
from reports.html import counterexample_ops, describe_call, render_report
from reports.nodelogs import read_node_logs
from reports.results import build_results
from reports.synthetic import synthetic_run

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:|//|ftp:)"""
                      r"""|url\(\s*["']?(?:https?:|//)|@import""", re.IGNORECASE)


def page_data(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert m, "the page embeds its data"
    data = json.loads(m.group(1))
    assert isinstance(data, dict)
    return data


def assert_self_contained(html: str) -> None:
    assert EXTERNAL.search(html) is None, EXTERNAL.search(html)
    assert "<link rel=\"stylesheet\"" not in html
    assert re.search(r"<script[^>]+src=", html) is None
    assert "default-src 'none'" in html  # the CSP forbids fetching anything


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_run(tmp_path_factory.mktemp("store"), n_ops=600, name="reg-good")


@pytest.fixture(scope="module")
def invalid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_run(tmp_path_factory.mktemp("store"), n_ops=600, invalid=True,
                         name="reg-bad")


def test_valid_run(valid_run: Path) -> None:
    written = render_run(valid_run)
    assert [p.name for p in written] == ["junit.xml", "report.html"]
    html = (valid_run / "report.html").read_text()
    assert_self_contained(html)
    assert 'data-verdict="valid"' in html
    assert ">VALID<" in html
    assert "chaos run --test-file " + str(valid_run / "test.json") in html
    assert "chaos run --workload register --nemesis partition,kill --nodes 3" in html
    assert 'id="counterexample"' not in html
    for section in ("parameters", "checkers", "timeline", "latency", "throughput",
                    "performance", "nodes", "files"):
        assert f'id="{section}"' in html, section
    data = page_data(html)["chart"]
    assert data["total_ops"] == data["shown_ops"] == 600
    assert len(data["ops"]["s"]) == 600
    assert data["fs"] == ["cas", "read", "write"]
    assert {w["family"] for w in data["windows"]} == {"partition", "kill"}
    assert data["leaders"], "leader changes from the node logs are marked"
    assert set(data["latq"]) == {"cas", "read", "write"}
    # links to the run's files, relative to the report
    assert 'href="history.jsonl"' in html and 'href="nodes/n1/raftkv.log"' in html


def test_invalid_run_draws_the_counterexample(invalid_run: Path) -> None:
    render_run(invalid_run)
    html = (invalid_run / "report.html").read_text()
    results = json.loads((invalid_run / "results.json").read_text())
    [checker] = results["checkers"]
    cx = checker["details"]["counterexample"]
    assert_self_contained(html)
    assert 'data-verdict="invalid"' in html and ">INVALID<" in html
    section = html[html.index('<section id="counterexample">'):]
    section = section[:section.index("</section>")]
    assert cx["sentence"].replace("'", "&#x27;") in section
    assert "<svg" in section and 'class="cx-op failing"' in section
    assert section.count('class="cx-op') == len(counterexample_ops(cx["ops"]))
    assert "cannot be linearized" in section
    # the failing op's row is highlighted in the table under the drawing
    failing_row = re.search(r'<tr class="hl"><td>(\d+)</td>', section)
    assert failing_row is not None
    failing_completion = next(o for o in cx["ops"] if o["index"] == cx["failing"])
    invoke = [o for o in cx["ops"] if o["process"] == failing_completion["process"]
              and o["type"] == "invoke" and o["index"] < cx["failing"]][-1]
    assert int(failing_row.group(1)) == invoke["index"]
    # the counterexample's ops are outlined on the timeline
    data = page_data(html)["chart"]
    outlined = {data["ops"]["i"][r] for r in data["cx_rows"]}
    assert outlined == {o["index"] for o in cx["ops"] if o["type"] == "invoke"}
    # the headline says what went wrong before anything else
    assert html.index("nonlinearizable") < html.index('id="parameters"')


def test_thinned_timeline_keeps_every_failure(valid_run: Path) -> None:
    results = json.loads((valid_run / "results.json").read_text())
    history = read_history(valid_run / "history.jsonl")
    html = render_report(results=results, history=history, max_timeline_ops=200)
    data = page_data(html)["chart"]
    assert data["total_ops"] == 600 and data["shown_ops"] <= 200 + 200
    not_ok = sum(1 for t in data["ops"]["t"] if t != 0)
    assert not_ok == sum(results["perf"]["ops"][k] for k in ("fail", "info", "pending"))
    assert "The timeline and latency points show" in html


def test_text_from_the_run_is_escaped() -> None:
    history = [Op(0, "invoke", "write", "</script><script>alert(1)</script>", time=0, index=0),
               Op(0, "ok", "write", "</script><script>alert(1)</script>", time=5, index=1)]
    results = build_results(test={"name": "<b>x</b>", "seed": "<i>"}, checks=Result(
        "c<>", True, "<img src=x>"), perf={}, run={"run_dir": "/tmp/a b"})
    html = render_report(results=results, history=history)
    assert "<script>alert(1)" not in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<img src=x>" not in html
    assert page_data(html)["chart"]["ops"]["d"] == ["</script><script>alert(1)</script>"]


def test_missing_results_still_renders_the_history(tmp_path: Path, valid_run: Path) -> None:
    run = tmp_path / "died" / "1"
    run.mkdir(parents=True)
    (run / "history.jsonl").write_text((valid_run / "history.jsonl").read_text())
    (run / "test.json").write_text(json.dumps({"name": "died", "workload": "register"}))
    render_run(run)
    html = (run / "report.html").read_text()
    assert 'data-verdict="unknown"' in html
    assert "no results.json" in html
    assert page_data(html)["chart"]["total_ops"] == 600


def test_bad_run_directories(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such run directory"):
        render_run(tmp_path / "nope")
    with pytest.raises(InputError, match="not a run directory"):
        render_run(tmp_path)
    (tmp_path / "history.jsonl").write_text('{"process": 0, "type": "invoke", "f": "read"}\n'
                                            "not json\n")
    with pytest.raises(InputError, match=r"history.jsonl:2: not valid JSON"):
        render_run(tmp_path)


def test_empty_history(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text("")
    render_run(tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "The history is empty." in html
    assert page_data(html)["chart"] is None


def test_describe_call() -> None:
    inv = Op(0, "invoke", "read", None, key="k1")
    assert describe_call(inv, inv.with_(type="ok", value=3)) == "k1 → 3"
    w = Op(0, "invoke", "cas", [1, 2], key="k1")
    assert describe_call(w, w.with_(type="ok")) == "k1 [1,2]"
    assert describe_call(w, None, with_key=False) == "[1,2]"
    assert describe_call(Op(0, "invoke", "write", "x" * 100), None).endswith("…")


@pytest.mark.slow
def test_100k_operations_stay_small(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path, n_ops=100_000, concurrency=10, rate=500.0,
                        checks=Result("linearizable", True, "not checked: size test"))
    started = time.perf_counter()
    render_run(run)
    elapsed = time.perf_counter() - started
    size = (run / "report.html").stat().st_size
    assert size < 10_000_000, f"report.html is {size / 1e6:.1f} MB"
    data = page_data((run / "report.html").read_text())["chart"]
    assert data["total_ops"] == data["shown_ops"] == 100_000
    assert elapsed < 60, f"rendering took {elapsed:.1f} s"


def test_leader_changes_need_the_history_start(valid_run: Path) -> None:
    results = json.loads((valid_run / "results.json").read_text())
    history = read_history(valid_run / "history.jsonl")
    del results["run"]["history_started"]
    html = render_report(results=results, history=history,
                         node_logs=read_node_logs(valid_run / "nodes"))
    assert page_data(html)["chart"]["leaders"] == []
    assert "relative to the run's start (cluster start-up included)" in html


def test_counterexample_drawing_of_indeterminate_and_pending_ops() -> None:
    ops = [Op(1, "invoke", "write", 1, time=0, index=0),
           Op(2, "invoke", "write", 2, time=10, index=1),
           Op(1, "ok", "write", 1, time=20, index=2),
           Op(2, "info", "write", 2, time=30, index=3),
           Op(3, "invoke", "read", None, time=40, index=4),
           Op(3, "ok", "read", 3, time=50, index=5),
           Op(4, "invoke", "read", None, time=45, index=6)]
    cx = {"ops": [o.to_dict() for o in ops], "failing": 5, "sentence": "read of 3: nobody wrote 3"}
    checks = Result("linearizable", False, "bad", details={"counterexample": cx})
    html = render_report(results=build_results(test={}, checks=checks, perf={}, run={}),
                         history=ops)
    section = html[html.index('<section id="counterexample">'):]
    assert section.count('class="cx-op') == 4
    assert section.count('fill="url(#unknown-end)"') == 2  # the info write, the pending read
    assert section.count('class="cx-op failing"') == 1
    assert re.search(r'<tr class="hl"><td>4</td><td>3</td>', section)
    assert "<td>process 4</td>" not in section and "process 4</text>" in section
