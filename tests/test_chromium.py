"""report.html in real headless Chromium, from file://: no console errors, no network
requests, the charts drawn and interactive, the counterexample there for an invalid run.

Screenshots are kept in test-output/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkers.result import Result
from reports import render_run
from reports.browser import PageVisit, visit
from reports.index import find_runs, render_index
from reports.synthetic import synthetic_run

pytestmark = pytest.mark.chromium

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"

PAINTED = """(() => { const c = document.getElementById('%s'); if (!c) return -1;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()"""
HOVER = """(() => { const c = document.getElementById('timeline-canvas');
  const r = c.getBoundingClientRect(), tip = document.getElementById('tooltip');
  for (let y = r.top + 50; y < r.top + 130; y += 4)
    for (let x = r.left + 80; x < r.right - 20; x += 4) {
      c.dispatchEvent(new MouseEvent('mousemove', {clientX: x, clientY: y, bubbles: true}));
      if (!tip.hidden) return tip.textContent; }
  return null; })()"""


def assert_clean(v: PageVisit) -> None:
    assert v.exceptions == () and v.console_errors == () and v.log_errors == (), v.errors
    assert v.requests == (), f"the page made network requests: {v.requests}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("store")
    for run in (synthetic_run(store, n_ops=1500, name="register-good"),
                synthetic_run(store, n_ops=1500, invalid=True, name="register-bad")):
        render_run(run)
    return store


def report_of(store: Path, name: str) -> Path:
    return (store / name / "latest" / "report.html").resolve()


def test_valid_report_loads_clean_and_draws(store: Path) -> None:
    shot = OUTPUT / "report-valid.png"
    v = visit(report_of(store, "register-good"), screenshot=shot, evaluate={
        "js_errors": "document.documentElement.dataset.jsErrors",
        "verdict": "document.getElementById('verdict').dataset.verdict",
        "timeline": PAINTED % "timeline-canvas", "latency": PAINTED % "latency-canvas",
        "throughput": PAINTED % "throughput-canvas",
        "counterexample": "document.getElementById('counterexample') !== null"})
    assert_clean(v)
    assert v.url.startswith("file://")
    assert v.ready_ms is not None, "the charts never finished drawing"
    assert v.values["js_errors"] == "0"
    assert v.values["verdict"] == "valid"
    assert v.values["counterexample"] is False
    for chart in ("timeline", "latency", "throughput"):
        assert v.values[chart] > 10_000, f"the {chart} canvas is blank"
    assert shot.stat().st_size > 50_000


def test_invalid_report_shows_the_counterexample(store: Path) -> None:
    shot = OUTPUT / "report-invalid.png"
    v = visit(report_of(store, "register-bad"), screenshot=shot, evaluate={
        "verdict": "document.getElementById('verdict').dataset.verdict",
        "failing": "document.querySelectorAll('#counterexample svg .cx-op.failing').length",
        "bars": "document.querySelectorAll('#counterexample svg .cx-op').length",
        "sentence": "document.querySelector('#counterexample .sentence').textContent",
        "visible": "document.getElementById('counterexample').getBoundingClientRect().height"})
    assert_clean(v)
    assert v.values["verdict"] == "invalid"
    assert v.values["failing"] == 1
    assert v.values["bars"] >= 2
    assert "returned" in v.values["sentence"] and "before the read began" in v.values["sentence"]
    assert v.values["visible"] > 100
    # a close-up of the counterexample too, for the reader of the test output
    close = visit(report_of(store, "register-bad"), screenshot=OUTPUT / "report-counterexample.png",
                  full_page=False, height=900, evaluate={
                      "scroll": "document.getElementById('counterexample').scrollIntoView()"})
    assert_clean(close)


def test_zoom_pan_and_hover_work(store: Path) -> None:
    v = visit(report_of(store, "register-bad"), evaluate={
        "before": "document.getElementById('view-range').textContent",
        "zoomed": "document.querySelector('[data-zoom-action=in]').click(),"
                  "document.getElementById('view-range').textContent",
        "panned": "document.querySelector('[data-zoom-action=right]').click(),"
                  "document.getElementById('view-range').textContent",
        "to_cx": "document.querySelector('#counterexample [data-zoom]').click(),"
                 "document.getElementById('view-range').textContent",
        "hover": HOVER,
        "lanes": "(() => { const s = document.getElementById('lane-mode'); s.value = 'worker';"
                 " s.dispatchEvent(new Event('change')); return s.value; })()",
        "reset": "document.querySelector('[data-zoom-action=reset]').click(),"
                 "document.getElementById('view-range').textContent"})
    assert_clean(v)
    values = v.values
    assert values["before"].startswith("whole run")
    assert " \u2013 " in values["zoomed"] and values["zoomed"] != values["panned"]
    assert values["to_cx"] not in (values["zoomed"], values["panned"])
    assert values["hover"] and "process" in values["hover"] and "latency" in values["hover"]
    assert values["lanes"] == "worker"
    assert values["reset"].startswith("whole run")


def test_the_run_index_loads_clean(store: Path, tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(render_index(find_runs(store), str(store)))
    v = visit(page, screenshot=OUTPUT / "index.png", full_page=False, height=500,
              evaluate={"rows": "document.querySelectorAll('tr[data-search]').length"})
    assert_clean(v)
    assert v.values["rows"] == 2


def test_the_checks_catch_a_bad_page(tmp_path: Path) -> None:
    """The visit is not vacuous: a script error and a request are both seen."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><img src='http://127.0.0.1:9/pixel.png'>"
                    "<script>console.error('boom'); undefinedFunction();</script></body></html>")
    v = visit(page, timeout_s=5)
    assert any("undefinedFunction" in e for e in v.exceptions)
    assert v.console_errors == ("boom",)
    assert v.requests == ("http://127.0.0.1:9/pixel.png",)
    assert v.ready_ms is None


@pytest.mark.slow
def test_100k_operations_open_in_under_3_seconds(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path, n_ops=100_000, concurrency=10, rate=500.0,
                        checks=Result("linearizable", True, "not checked: load test"))
    render_run(run)
    v = visit(run / "report.html", screenshot=OUTPUT / "report-100k.png", full_page=False)
    assert_clean(v)
    assert v.ready_ms is not None and v.ready_ms < 3000, f"drawn after {v.ready_ms} ms"
