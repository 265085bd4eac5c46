"""The worker pool: what is on disk when a client is called, and where threads run."""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path

import pytest

from cluster.base import Cluster, Node
from harness import generator as gen
from harness.history import read_history
from harness.op import NEMESIS, Op
from harness.recorder import Recorder
from harness.workers import CpuPlacement, WorkerPool

NODES = [Node("n1", 1, "127.0.0.1"), Node("n2", 2, "127.0.0.2")]


class DiskCheckingClient:
    """On every call, reads the history file: its invocation, and every op recorded
    before it, must already be there (written to the OS, not waiting in a buffer)."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path, self.problems = path, problems

    def open(self, node: Node) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        lines = self.path.read_text().splitlines()
        indices = [json.loads(line)["index"] for line in lines]
        if indices != list(range(len(indices))) or op.index not in indices:
            self.problems.append(f"op {op.index} called with {len(indices)} lines on disk")
        return Op(op.process, "ok", op.f, op.value, op.time, op.index, op.key, op.node)

    def close(self) -> None:
        pass


def test_every_invocation_is_on_disk_before_its_call(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    problems: list[str] = []
    with Recorder(path) as rec:
        pool = WorkerPool(rec, concurrency=4, nodes=NODES,
                          new_client=lambda: DiskCheckingClient(path, problems))
        g = gen.clients(gen.limit(400, gen.repeat({"f": "read"})))
        result = gen.interpret(g, pool, pool.threads, seed=3)
        pool.close()
        assert len(path.read_text().splitlines()) == 800  # flushed by close, before closing
    assert problems == []
    history = read_history(path)
    assert result.invocations == 400 and len(history) == 800
    assert [o.index for o in history] == list(range(800))
    assert all(a.time <= b.time for a, b in itertools.pairwise(history))
    assert {o.node for o in history} == {"n1", "n2"}


class RecordingNemesis:
    def __init__(self) -> None:
        self.affinity: set[int] | None = None

    def setup(self, cluster: Cluster) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        self.affinity = os.sched_getaffinity(0)
        return op.with_(type="ok")

    def teardown(self) -> None:
        pass

    def fs(self) -> frozenset[str]:
        return frozenset({"noop"})


class PlacementProbe:
    seen: list[tuple[set[int], int]]

    def __init__(self, seen: list[tuple[set[int], int]]) -> None:
        self.seen = seen

    def open(self, node: Node) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        policy = os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
        self.seen.append((os.sched_getaffinity(0), policy))
        return op.with_(type="ok")

    def close(self) -> None:
        pass


linux_with_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2
    or CpuPlacement.here().cpu is None,
    reason="needs Linux and at least two usable CPUs")


@linux_with_cpus
def test_loop_and_client_workers_share_one_cpu_and_the_nemesis_does_not(
        tmp_path: Path) -> None:
    loop_before = os.sched_getaffinity(0)
    seen: list[tuple[set[int], int]] = []
    nemesis = RecordingNemesis()
    with Recorder(tmp_path / "h.jsonl") as rec:
        pool = WorkerPool(rec, concurrency=3, nodes=NODES, new_client=lambda: PlacementProbe(seen),
                          nemesis=nemesis, one_cpu=True)
        loop_during: list[set[int]] = []
        g = gen.split(gen.limit(30, gen.repeat({"f": "read"})),
                      gen.once({"f": "noop"}))

        def note_loop_cpus(o: gen.OpDict) -> gen.OpDict:
            loop_during.append(os.sched_getaffinity(0))
            return o

        g = gen.map_ops(note_loop_cpus, g)
        gen.interpret(g, pool, pool.threads, seed=1)
        pool.close()
    cpu = pool.placement.cpu
    assert seen and all(affinity == {cpu} and policy == os.SCHED_BATCH
                        for affinity, policy in seen)
    assert {frozenset(a) for a in loop_during[1:]} == {frozenset({cpu})}
    assert nemesis.affinity == loop_before  # the nemesis starts processes: not confined
    assert os.sched_getaffinity(0) == loop_before  # the loop's CPUs are given back
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


@linux_with_cpus
def test_one_cpu_is_off_by_default(tmp_path: Path) -> None:
    before = os.sched_getaffinity(0)
    seen: list[tuple[set[int], int]] = []
    with Recorder(tmp_path / "h.jsonl") as rec:
        pool = WorkerPool(rec, concurrency=2, nodes=NODES, new_client=lambda: PlacementProbe(seen))
        gen.interpret(gen.clients(gen.limit(10, gen.repeat({"f": "read"}))), pool, pool.threads,
                      seed=1)
        pool.close()
    assert seen and all(a == before and p == os.SCHED_OTHER for a, p in seen)


def test_a_late_answer_after_a_timeout_is_dropped_and_the_loop_goes_on(tmp_path: Path) -> None:
    release = threading.Event()

    class SlowFirst:
        calls = 0

        def open(self, node: Node) -> None:
            pass

        def invoke(self, op: Op) -> Op:
            SlowFirst.calls += 1
            if SlowFirst.calls == 1:
                release.wait(5)
            return op.with_(type="ok")

        def close(self) -> None:
            pass

    with Recorder(tmp_path / "h.jsonl") as rec:
        pool = WorkerPool(rec, concurrency=1, nodes=NODES, new_client=SlowFirst,
                          op_timeout_s=0.2, grace_s=0.0)
        g = gen.clients(gen.limit(3, gen.repeat({"f": "read"})))
        gen.interpret(g, pool, pool.threads, seed=1)
        release.set()
        pool.close()
    history = read_history(tmp_path / "h.jsonl")
    assert [(o.process, o.type) for o in history] == [
        (0, "invoke"), (0, "info"), (1, "invoke"), (1, "ok"), (1, "invoke"), (1, "ok")]
    assert history[1].error == "timeout"
    assert NEMESIS not in {o.process for o in history}
