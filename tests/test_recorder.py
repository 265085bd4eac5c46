"""The recorder: stamped, ordered, flushed ops, and a history that survives SIGKILL."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from harness.history import read_history
from harness.op import Op
from harness.recorder import Recorder


def test_ops_are_stamped_with_index_and_time(tmp_path: Path) -> None:
    ticks = iter([1000, 1500, 2500, 4000])
    path = tmp_path / "history.jsonl"
    with Recorder(path, clock=lambda: next(ticks)) as rec:
        a = rec.record(Op(process=0, type="invoke", f="read"))
        b = rec.record(Op(process=0, type="ok", f="read", value=3))
        # flushed: readable before close
        lines = path.read_text().splitlines()
    assert (a.index, a.time, b.index, b.time) == (0, 500, 1, 1500)
    assert [json.loads(line)["index"] for line in lines] == [0, 1]
    assert json.loads(lines[1]) == {"index": 1, "time": 1500, "process": 0, "type": "ok",
                                    "f": "read", "value": 3}


def test_tally_counts_outcomes_and_faults_in_force(tmp_path: Path) -> None:
    with Recorder(tmp_path / "h.jsonl") as rec:
        for t in ("invoke", "ok", "invoke", "fail", "invoke", "info"):
            rec.record(Op(process=0, type=t, f="write", value=1))
        rec.record(Op(process="nemesis", type="invoke", f="start-partition", value="majority"))
        rec.record(Op(process="nemesis", type="ok", f="start-partition", value="majority"))
        t1 = rec.tally()
        rec.record(Op(process="nemesis", type="invoke", f="stop-partition"))
        rec.record(Op(process="nemesis", type="ok", f="stop-partition"))
        t2 = rec.tally()
    assert (t1.ops, t1.ok, t1.fail, t1.info) == (3, 1, 1, 1)
    assert t1.faults == ("partition",) and t1.last_nemesis == "start-partition majority"
    assert t2.faults == () and t2.last_nemesis == "stop-partition"


def test_concurrent_records_keep_index_and_time_in_order(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with Recorder(path) as rec:
        def worker(p: int) -> None:
            for _ in range(200):
                rec.record(Op(process=p, type="invoke", f="read"))
                rec.record(Op(process=p, type="ok", f="read"))

        threads = [threading.Thread(target=worker, args=(p,)) for p in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ops = read_history(path)
    assert [o.index for o in ops] == list(range(3200))
    assert all(a.time <= b.time for a, b in itertools.pairwise(ops))


SLOW_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from rich.console import Console
    from harness.runner import Prepared, make_workload, run_test
    from harness.test import build_test
    from nemesis.packages import build_package
    from tests.runner_fakes import FakeDatabase

    test = build_test({{"time_limit": 600, "rate": 500, "seed": 3, "store": {store!r}}})
    prepared = Prepared(test, FakeDatabase(), make_workload(test),
                        build_package(["none"], nodes=["n1", "n2", "n3"]), "fake", None)
    run_test(test, console=Console(), prepared=prepared, show_progress=False)
""")


def test_a_sigkilled_run_leaves_a_checkable_history(tmp_path: Path) -> None:
    store = tmp_path / "store"
    script = SLOW_RUN.format(root=str(Path(__file__).parent.parent), store=str(store))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    history = store / "latest" / "history.jsonl"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if history.exists() and history.stat().st_size > 20_000:
                break
            time.sleep(0.1)
        else:
            err = proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"the run never recorded: {err!r}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    ops = read_history(history)  # every line whole, pairing valid
    assert len(ops) > 100
    assert not (history.parent / "results.json").exists()
    check = subprocess.run([sys.executable, "-m", "harness.cli", "check", "--model",
                            "cas-register", "--independent", str(history)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_staged_lines_reach_the_file_only_when_flushed(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with Recorder(path) as rec:
        a = rec.stage(Op(process=0, type="invoke", f="read"), node="n2")
        assert path.read_text() == ""  # staged: stamped, not yet written
        assert (a.index, a.node) == (0, "n2")
        rec.record(Op(process=1, type="invoke", f="write", value=1))  # writes a first
        assert [json.loads(line)["index"] for line in path.read_text().splitlines()] == [0, 1]
        rec.stage(Op(process=0, type="ok", f="read", value=None))
        rec.flush()
        assert len(path.read_text().splitlines()) == 3
        rec.stage(Op(process=1, type="ok", f="write", value=1))
    assert len(path.read_text().splitlines()) == 4  # close writes what is staged


def test_started_at_is_the_wall_clock_of_time_zero(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC)
    with Recorder(tmp_path / "h.jsonl") as rec:
        after = datetime.now(UTC)
        assert rec.started_at.tzinfo is not None
        assert before - timedelta(milliseconds=1) <= rec.started_at <= after
        assert rec.now() >= 0
