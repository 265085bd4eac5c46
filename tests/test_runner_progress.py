"""Live progress: plain lines for logs, a table for terminals, from an injected clock."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from harness.op import Op
from harness.progress import Progress, ProgressView, render_line, render_table
from harness.recorder import Recorder, Tally


def test_render_line_says_everything_on_one_line() -> None:
    v = ProgressView("running", 12.4, 17.6, 48.9, Tally(12_400_000_000, 600, 500, 60, 3,
                                                        ("partition",), "start-partition one"),
                     {"n1": "leader", "n2": "follower"})
    assert render_line(v) == ("[running] 12s (-18s) 49 ops/s ok=500 fail=60 info=3 faults: "
                              "in force: partition | n1:leader n2:follower")


def test_render_table_has_the_nemesis_state_and_roles() -> None:
    v = ProgressView("running", 1, None, 0, Tally(0, 0, 0, 0, 0, (), "stop-partition"),
                     {"n1": "leader"})
    out = io.StringIO()
    Console(file=out, width=120).print(render_table(v))
    text = out.getvalue()
    assert "none in force; last: stop-partition" in text and "n1 leader" in text


def test_progress_computes_rate_and_remaining_from_its_clock(tmp_path: Path) -> None:
    now = [100.0]
    with Recorder(tmp_path / "h.jsonl") as rec:
        p = Progress(Console(file=io.StringIO()), rec, time_limit_s=30, clock=lambda: now[0])
        p.set_phase("running")
        p.view()
        for _ in range(20):
            rec.record(Op(process=0, type="invoke", f="read"))
        now[0] += 2
        v = p.view()
    assert v.ops_per_s == 10 and v.remaining_s == 28
