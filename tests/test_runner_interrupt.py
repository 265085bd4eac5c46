"""SIGTERM/SIGINT end a run promptly: stop generating, heal, check, report, exit 3, even
while every worker is stuck in a call and the nemesis too.

The run goes in a child process (``python -c``, the real signal path of ``chaos run``:
handlers in the main thread), against in-process fakes whose calls never return while
the run lasts and whose timeouts are far away; the test sends SIGTERM and times the exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from cluster.base import Cluster, ClusterSpec, Node
from harness.history import read_history
from harness.op import NEMESIS, Op
from harness.test import Test
from tests.runner_fakes import FakeCluster

ROOT = Path(__file__).resolve().parent.parent
NEVER = threading.Event()  # what stuck calls wait for (never set: the child exits)


class StuckSession:
    """A KV session whose every call hangs (a node that accepts and never answers)."""

    def get(self, key: str) -> str | None:
        NEVER.wait()
        return None

    def put(self, key: str, value: str) -> None:
        NEVER.wait()

    def cas(self, key: str, old: str | None, new: str) -> bool:
        NEVER.wait()
        return False

    def append(self, key: str, value: str) -> None:
        NEVER.wait()

    def txn(self, ops: Sequence[list[Any]]) -> list[list[Any]]:
        NEVER.wait()
        return []

    def close(self) -> None:
        pass


class StuckDatabase:
    name = "stuck"

    def __init__(self, *, stuck_up: bool = False) -> None:
        self.clusters: list[FakeCluster] = []
        self.stuck_up = stuck_up

    def cluster(self, backend: str, spec: ClusterSpec) -> FakeCluster:
        c = FakeCluster(spec)
        self.clusters.append(c)
        if self.stuck_up:
            def up() -> None:  # a cluster that never gets healthy (docker-compose hung)
                c.calls.append("up")
                print("cluster coming up", flush=True)
                NEVER.wait()

            c.up = up  # type: ignore[method-assign]
        return c

    def connect(self, node: Node, nodes: Sequence[Node], *, read_mode: str | None,
                timeout_s: float) -> StuckSession:
        return StuckSession()

    def status(self, node: Node, timeout_s: float) -> Mapping[str, Any]:
        return {"role": "follower"}


class StuckNemesis:
    """Its first op hangs (a command that never returns); teardown works."""

    def setup(self, cluster: Cluster) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        NEVER.wait()
        return op.with_(type="ok")

    def teardown(self) -> None:
        pass

    def fs(self) -> frozenset[str]:
        return frozenset({"start-fault", "stop-fault"})


def stuck_run(store: str, stuck_up: bool = False) -> None:
    """The child: a 60 s run whose op timeout (30 s) and nemesis timeout (120 s, the
    default) are far beyond what the test waits (or whose cluster never comes up);
    prints what was done to the cluster and exits with the run's code."""
    from rich.console import Console

    from harness import generator as gen
    from harness.runner import Prepared, make_workload, run_test
    from harness.test import build_test
    from nemesis.packages import NemesisPackage

    test: Test = build_test({"time_limit": 60, "rate": 200, "concurrency": 4, "seed": 3,
                             "op_timeout": 30, "store": store, "recovery_time": 0})
    package = NemesisPackage("stuck", StuckNemesis(),
                             gen.nemesis(gen.cycle({"f": "start-fault"}, {"f": "stop-fault"})),
                             gen.nemesis({"f": "stop-fault"}), ())
    db = StuckDatabase(stuck_up=stuck_up)
    prepared = Prepared(test, db, make_workload(test), package, "fake", None)
    code = run_test(test, console=Console(file=sys.stderr, width=100), prepared=prepared,
                    show_progress=False)
    print("cluster calls:", ",".join(db.clusters[0].calls), flush=True)
    os._exit(code)  # stuck daemon threads must not hold the exit


def start_child(store: Path, *, stuck_up: bool = False) -> subprocess.Popen[str]:
    code = ("from tests.test_runner_interrupt import stuck_run; "
            f"stuck_run({str(store)!r}, stuck_up={stuck_up})")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_history(store: Path, lines: int, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and child.poll() is None:
        histories = list(store.glob("*/*/history.jsonl"))
        if histories and len(histories[0].read_text().splitlines()) >= lines:
            return
        time.sleep(0.05)
    child.kill()
    pytest.fail(f"the run never got going: {child.communicate()[0]}")


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGTERM, id="SIGTERM"),
                                 pytest.param(signal.SIGINT, id="SIGINT")])
def test_a_signal_ends_a_run_whose_every_call_is_stuck_promptly_with_exit_3(
        tmp_path: Path, sig: signal.Signals) -> None:
    store = tmp_path / "store"
    child = start_child(store)
    wait_for_history(store, 5, child)  # 4 client invocations and the nemesis's: all stuck
    time.sleep(0.3)
    sent = time.monotonic()
    child.send_signal(sig)
    try:
        out, _ = child.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
        pytest.fail(f"still running 20 s after {sig.name}:\n{out}")
    took = time.monotonic() - sent
    assert child.returncode == 3, out
    assert took < 6, f"{sig.name} took {took:.1f} s to end the run:\n{out}"
    run_dir = (store / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["run"]["interrupted"] is True and results["exit_code"] == 3
    history = read_history(run_dir / "history.jsonl")
    invoked = [o for o in history if o.type == "invoke"]
    completed = [o for o in history if o.type != "invoke"]
    assert len(invoked) == len(completed) >= 5  # every invocation settled, none left open
    assert {(o.type, o.error) for o in completed} == {("info", "the run stopped first")}
    assert NEMESIS in {o.process for o in completed}
    assert "ops still in flight after the stop" in out
    assert "cluster calls: up,heal,collect_logs,down" in out


def test_a_signal_while_the_cluster_comes_up_aborts_the_start_and_tears_down(
        tmp_path: Path) -> None:
    """Nothing runs yet that could stop gently: the first signal interrupts ``up``."""
    store = tmp_path / "store"
    child = start_child(store, stuck_up=True)
    assert child.stdout is not None
    deadline = time.monotonic() + 30
    while "cluster coming up" not in child.stdout.readline():
        assert time.monotonic() < deadline and child.poll() is None, "the child never started"
    sent = time.monotonic()
    child.send_signal(signal.SIGTERM)
    try:
        out, _ = child.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
        pytest.fail(f"still starting 20 s after SIGTERM:\n{out}")
    assert time.monotonic() - sent < 5
    assert child.returncode == 3, out
    assert "cluster calls: up,heal,collect_logs,down" in out
    results = json.loads(((store / "latest").resolve() / "results.json").read_text())
    assert results["run"]["interrupted"] is True


def test_a_signal_during_a_series_of_tests_ends_the_series(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``--test-count``: the interrupted test reports, the rest are not started."""
    from harness import runner
    from harness.cli import main

    ran: list[int] = []
    ignored: list[int] = []
    # Without the series' own handler the signal would reach this one, not stop anything.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: ignored.append(signum))

    def interrupted_run(test: Test, **kw: Any) -> int:
        ran.append(test.seed)
        os.kill(os.getpid(), signal.SIGTERM)
        stop = kw.get("stop")
        assert stop is None or stop.wait(2)  # the handler ran (in this, the main thread)
        return 3

    monkeypatch.setattr(runner, "prepare", lambda test: None)
    monkeypatch.setattr(runner, "run_test", interrupted_run)
    try:
        assert main(["run", "--test-count", "3", "--store", str(tmp_path)]) == 3
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert len(ran) == 1 and ignored == []
