"""The run loop end to end against in-process fakes: cluster, database, clients."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cluster.base import Node
from harness import generator as gen
from harness.errors import EnvironmentProblem, RunAborted
from harness.history import read_history
from harness.op import Op
from harness.recorder import Recorder
from harness.runner import Prepared, make_workload, plan, run_test
from harness.test import Test, build_test
from harness.workers import WorkerPool
from nemesis.packages import NemesisPackage, build_package
from tests.runner_fakes import FakeDatabase

NODES = ["n1", "n2", "n3"]


def fake_test(tmp_path: Path, **values: Any) -> Test:
    base = {"time_limit": 1.5, "rate": 200, "seed": 11, "store": str(tmp_path / "store"),
            "recovery_time": 0.1}
    return build_test(base | values)


def prepared(test: Test, db: FakeDatabase, package: NemesisPackage | None = None) -> Prepared:
    return Prepared(test, db, make_workload(test),
                    package or build_package(["none"], nodes=NODES), "fake", None)


def quiet() -> Console:
    return Console(file=open("/dev/null", "w"), width=100)


def test_a_valid_run_writes_the_store_and_exits_0(tmp_path: Path) -> None:
    test = fake_test(tmp_path)
    db = FakeDatabase()
    code = run_test(test, console=quiet(), prepared=prepared(test, db), show_progress=False)
    assert code == 0
    run_dir = (tmp_path / "store" / "latest").resolve()
    assert run_dir.parent.name == "register-none"
    assert (tmp_path / "store" / "register-none" / "latest").resolve() == run_dir
    for name in ("test.json", "history.jsonl", "results.json", "nodes/n1/raftkv.log"):
        assert (run_dir / name).exists(), name
    assert not (run_dir / ".cluster").exists()
    assert json.loads((run_dir / "test.json").read_text())["seed"] == 11
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True and results["exit_code"] == 0
    history = read_history(run_dir / "history.jsonl")
    invokes = [o for o in history if o.type == "invoke"]
    assert 200 < len(invokes) < 400  # ~200 ops/s for 1.5 s
    assert {o.node for o in invokes} == {"n1", "n2", "n3"}
    assert db.clusters[0].calls == ["up", "heal", "collect_logs", "down"]


def test_stale_reads_are_found_and_exit_1(tmp_path: Path) -> None:
    test = fake_test(tmp_path, read_mode="stale", time_limit=2, rate=400)
    code = run_test(test, console=quiet(), prepared=prepared(test, FakeDatabase()),
                    show_progress=False)
    assert code == 1
    results = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())
    assert results["valid"] is False and results["anomalies"]


def test_interrupt_stops_heals_checks_and_exits_3(tmp_path: Path) -> None:
    test = fake_test(tmp_path, time_limit=60)
    db = FakeDatabase()
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.monotonic()
    code = run_test(test, console=quiet(), prepared=prepared(test, db), stop=stop,
                    show_progress=False)
    assert time.monotonic() - t0 < 10
    assert code == 3
    assert db.clusters[0].calls == ["up", "heal", "collect_logs", "down"]
    results = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())
    assert results["run"]["interrupted"] is True and results["valid"] is True


class BrokenDatabase(FakeDatabase):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def cluster(self, backend: str, spec: Any) -> Any:
        c = super().cluster(backend, spec)

        def up() -> None:
            c.calls.append("up")
            raise self.error

        c.up = up  # type: ignore[method-assign]
        return c


def test_a_cluster_that_never_comes_up_is_torn_down_and_exits_3(tmp_path: Path) -> None:
    test = fake_test(tmp_path)
    db = BrokenDatabase(RunAborted("n2 never became healthy"))
    code = run_test(test, console=quiet(), prepared=prepared(test, db), show_progress=False)
    assert code == 3
    assert db.clusters[0].calls == ["up", "heal", "collect_logs", "down"]
    results = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())
    assert "n2 never became healthy" in results["run"]["errors"][0]


def test_a_missing_environment_is_exit_2_after_cleanup(tmp_path: Path) -> None:
    test = fake_test(tmp_path)
    db = BrokenDatabase(EnvironmentProblem("no image raftkv:latest: run python -m cluster.image"))
    with pytest.raises(EnvironmentProblem):
        run_test(test, console=quiet(), prepared=prepared(test, db), show_progress=False)
    assert db.clusters[0].calls == ["up", "heal", "collect_logs", "down"]
    results = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())
    assert results["exit_code"] == 2


def test_plan_puts_healing_and_final_reads_after_the_workload(tmp_path: Path) -> None:
    test = fake_test(tmp_path, workload="set", time_limit=10, rate=20, recovery_time=2)
    package = build_package(["partition"], interval_s=2, nodes=NODES, seed=1)
    history = gen.simulate(plan(test, make_workload(test), package), concurrency=3, seed=1,
                           respond=gen.ok_after(0.01))
    nemesis_ops = [o for o in history if o.process == "nemesis" and o.type == "invoke"]
    assert nemesis_ops[-1].f == "stop-partition"
    heal_at = nemesis_ops[-1].time
    final_reads = [o for o in history if o.f == "read" and o.time > heal_at]
    assert final_reads and final_reads[0].time >= heal_at + 2 * 10**9
    assert all(o.time < 10 * 10**9 + 10**8 for o in history if o.f == "add")


class HangingClient:
    def __init__(self, hang: threading.Event) -> None:
        self.hang = hang

    def open(self, node: Node) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        if op.process == 0:
            self.hang.wait(10)
        return op.with_(type="ok")

    def close(self) -> None:
        pass


def test_a_timed_out_op_is_info_and_its_slot_continues_as_a_new_process(tmp_path: Path) -> None:
    hang = threading.Event()
    nodes = [Node("n1", 1, "127.0.0.1")]
    with Recorder(tmp_path / "h.jsonl") as rec:
        pool = WorkerPool(rec, concurrency=2, nodes=nodes, new_client=lambda: HangingClient(hang),
                          op_timeout_s=0.2, grace_s=0.0)
        g = gen.clients(gen.time_limit(1.0, gen.delay(0.05, gen.repeat({"f": "read"}))))
        gen.interpret(g, pool, pool.threads, seed=1)
        hang.set()
        pool.close()
    history = read_history(tmp_path / "h.jsonl")
    timeouts = [o for o in history if o.type == "info"]
    assert len(timeouts) == 1 and timeouts[0].error == "timeout" and timeouts[0].process == 0
    assert timeouts[0].time - next(o.time for o in history if o.process == 0) >= 2 * 10**8
    assert any(o.process == 2 for o in history)  # slot 0 continues as process 0 + 2
    assert pool.timeouts == 1


class RaisingClient:
    def open(self, node: Node) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        from harness.client import DefiniteError

        if op.value == "definite":
            raise DefiniteError("refused")
        if op.value == "bad":
            return op.with_(type="done")
        raise ConnectionResetError("peer went away")

    def close(self) -> None:
        pass


def test_errors_map_to_fail_and_info(tmp_path: Path) -> None:
    nodes = [Node("n1", 1, "127.0.0.1")]
    with Recorder(tmp_path / "h.jsonl") as rec:
        pool = WorkerPool(rec, concurrency=1, nodes=nodes, new_client=RaisingClient)
        g = gen.clients([{"f": "w", "value": "definite"}, {"f": "w", "value": "lost"},
                         {"f": "w", "value": "bad"}])
        gen.interpret(g, pool, pool.threads, seed=1)
        pool.close()
    done = [o for o in read_history(tmp_path / "h.jsonl") if o.type != "invoke"]
    assert [(o.process, o.type) for o in done] == [(0, "fail"), (0, "info"), (1, "info")]
    assert done[0].error == "refused"
    assert done[1].error == "ConnectionResetError: peer went away"
    assert "invalid completion from client: type 'done'" in done[2].error


def test_clients_can_be_pinned_to_one_node(tmp_path: Path) -> None:
    test = fake_test(tmp_path, client_placement="n2", time_limit=0.5)
    assert run_test(test, console=quiet(), prepared=prepared(test, FakeDatabase()),
                    show_progress=False) == 0
    history = read_history(tmp_path / "store" / "latest" / "history.jsonl")
    assert {o.node for o in history if o.is_client} == {"n2"}


def test_test_count_draws_new_seeds_and_stops_at_the_first_invalid(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from harness import runner
    from harness.cli import main

    seen: list[int] = []
    verdicts = iter([0, 1, 0, 0])

    def fake_run(test: Test, **kw: Any) -> int:
        seen.append(test.seed)
        return next(verdicts)

    monkeypatch.setattr(runner, "prepare", lambda test: None)
    monkeypatch.setattr(runner, "run_test", fake_run)
    assert main(["run", "--test-count", "4", "--store", str(tmp_path)]) == 1
    assert len(seen) == 2 and seen[0] != seen[1]
    seen.clear()
    verdicts = iter([0, 1, 3, 0])
    argv = ["run", "--test-count", "4", "--keep-going", "--seed", "5", "--store", str(tmp_path)]
    assert main(argv) == 1
    assert seen == [5, 5, 5, 5]


def test_results_place_the_history_s_time_zero_on_the_wall_clock(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    test = fake_test(tmp_path, time_limit=0.5)
    assert run_test(test, console=quiet(), prepared=prepared(test, FakeDatabase()),
                    show_progress=False) == 0
    run = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())["run"]
    text = run["history_started"]
    assert text.endswith("+00:00") and len(text.split("T")[1].split("+")[0]) == 12  # .mmm
    history_started = datetime.fromisoformat(text)
    started = datetime.fromisoformat(run["started"])
    assert history_started.utcoffset() == timedelta(0)
    # the recorder starts after the run (whole seconds in "started") and before its end
    assert started <= history_started + timedelta(seconds=1)
    assert history_started <= started + timedelta(seconds=1 + run["duration_s"])
    assert history_started <= datetime.now(UTC)


def test_a_run_that_never_recorded_has_no_history_start(tmp_path: Path) -> None:
    test = fake_test(tmp_path)
    db = BrokenDatabase(RunAborted("n2 never became healthy"))
    assert run_test(test, console=quiet(), prepared=prepared(test, db), show_progress=False) == 3
    run = json.loads((tmp_path / "store" / "latest" / "results.json").read_text())["run"]
    assert run["history_started"] is None


@pytest.mark.parametrize("inventory, nodes, says", [
    ('[[nodes]]\nhost = "10.0.0.1"\n', 1, "nodes[1] (n1): missing 'data_dir'"),
    ('[[nodes]]\nhost = "10.0.0.1"\ndata_dir = "/srv/rc"\ninterface = "eth 0"\n', 1,
     "nodes[1] (n1): interface 'eth 0' is not a network interface name (at most 15 "
     "characters, no spaces or '/')"),
    ('[defaults]\ndata_dir = "/srv/rc"\n[[nodes]]\nhost = "10.0.0.1"\n', 3,
     "the test needs 3 nodes but the inventory lists 1"),
])
def test_a_bad_inventory_is_one_line_and_exit_2_before_any_run_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], inventory: str, nodes: int,
        says: str) -> None:
    from harness.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text(inventory)
    store = tmp_path / "store"
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--backend", "ssh", "--inventory", str(bad), "--nodes", str(nodes),
              "--time-limit", "1", "--store", str(store)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"chaos: error: inventory {bad}: {says}"]
    assert not store.exists()
