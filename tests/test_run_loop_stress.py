"""The run loop under stress: real worker threads, clients and a nemesis that misbehave.

In-process fakes, seeded per run: clients answer at once, or late (around the op
timeout, so that the timeout and the answer race), raise definite and indefinite
errors, return nonsense, or hang until the test ends; the nemesis sometimes raises or
blocks past its own timeout. Whatever they do, the loop must end on time (time limit +
the longest timeout + a grace), never run two nemesis calls at once, and leave a
history where every invocation has exactly one completion. A stop request (what
SIGINT/SIGTERM turn into) must end the loop within the stop grace even while ops hang,
and closing the pool must settle what was left in flight.

``RUN_LOOP_STRESS_SEEDS=N`` runs N seeds per test instead of a handful.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.base import Cluster, Node
from harness import generator as gen
from harness.client import DefiniteError
from harness.history import read_history
from harness.op import NEMESIS, Op
from harness.recorder import Recorder
from harness.workers import WAIT_SLICE_S, WorkerPool
from workloads.register import register_generator

NODES = [Node("n1", 1, "127.0.0.1"), Node("n2", 2, "127.0.0.2"), Node("n3", 3, "127.0.0.3")]
SEEDS = int(os.environ.get("RUN_LOOP_STRESS_SEEDS", "4"))
OP_TIMEOUT_S = 0.03
GRACE_S = 0.01
NEMESIS_TIMEOUT_S = 0.1
TIME_LIMIT_S = 0.3
HEAL_ATTEMPTS = 3
SLACK_S = 1.5  # a loaded two-core machine; a hang is seconds to minutes past the bound


class Hang:
    """Where fakes block until the test releases them (never within the run)."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def wait(self, seconds: float | None = None) -> None:
        self.released.wait(seconds)


class ChaoticClient:
    """Each op, by its own draw: quick ok, a late ok racing the timeout, fail, info by an
    exception, an invalid completion, or a hang."""

    def __init__(self, rng: random.Random, hang: Hang, *, timeout_s: float = OP_TIMEOUT_S,
                 stuck: float = 0.03) -> None:
        self.rng, self.hang, self.timeout_s, self.stuck = rng, hang, timeout_s, stuck

    def open(self, node: Node) -> None:
        if self.rng.random() < 0.02:
            raise ConnectionRefusedError("node refused the connection")

    def invoke(self, op: Op) -> Op:
        r = self.rng.random()
        if r < 0.08:
            raise DefiniteError("not_leader")
        if r < 0.16:
            raise ConnectionResetError("peer went away")
        if r < 0.19:
            return op.with_(type="invoke")  # not a completion
        if r < 0.19 + self.stuck:
            self.hang.wait()
        elif r < 0.32 + self.stuck:
            self.hang.wait(self.rng.uniform(0.5, 1.5) * (self.timeout_s + GRACE_S))
        elif r < 0.6:
            time.sleep(self.rng.random() * 0.002)
        return op.with_(type="ok")

    def close(self) -> None:
        pass


class ChaoticNemesis:
    """Raises sometimes, blocks past the nemesis timeout sometimes; counts how many
    calls run at once."""

    def __init__(self, rng: random.Random, hang: Hang) -> None:
        self.rng, self.hang = rng, hang
        self.lock = threading.Lock()
        self.active = self.most_active = self.calls = 0

    def setup(self, cluster: Cluster) -> None:
        pass

    def teardown(self) -> None:
        pass

    def fs(self) -> frozenset[str]:
        return frozenset({"start-fault", "stop-fault"})

    def invoke(self, op: Op) -> Op:
        with self.lock:
            self.calls += 1
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            r = self.rng.random()
        try:
            if r < 0.1:
                raise RuntimeError("iptables: resource busy")
            if r < 0.2:
                self.hang.wait(self.rng.uniform(1.2, 3) * NEMESIS_TIMEOUT_S)
            elif r < 0.25:
                self.hang.wait()
            else:
                time.sleep(self.rng.random() * 0.005)
            return op.with_(type="ok")
        finally:
            with self.lock:
                self.active -= 1


def stress_plan(seed: int) -> gen.Generator:
    """The runner's shape: a register workload beside a nemesis schedule, for the time
    limit; then, every thread free, nemesis healing until it works (a few tries)."""
    clients = gen.stagger(1 / 3000, register_generator(threads_per_key=3, ops_per_key=20,
                                                        values=3))
    faults = gen.stagger(0.01, gen.cycle({"f": "start-fault"}, {"f": "stop-fault"}))
    heal = gen.until_ok(gen.limit(HEAL_ATTEMPTS, gen.repeat({"f": "stop-fault"})))
    return gen.phases(gen.time_limit(TIME_LIMIT_S, gen.split(clients, faults)),
                      gen.nemesis(heal))


def check_history(ops: list[Op]) -> None:
    """Indices in order, times in order, and each invocation with exactly one completion
    by the same process, which never invokes again after an ``info``."""
    assert [o.index for o in ops] == list(range(len(ops)))
    assert all(a.time <= b.time for a, b in itertools.pairwise(ops))
    open_ops: dict[object, Op] = {}
    retired: set[object] = set()
    for o in ops:
        if o.type == "invoke":
            assert o.process not in open_ops, f"second invocation while one is open: {o}"
            assert o.process not in retired, f"a process invoked after its info: {o}"
            open_ops[o.process] = o
        else:
            inv = open_ops.pop(o.process, None)
            assert inv is not None, f"a completion without an invocation: {o}"
            assert (inv.f, inv.key) == (o.f, o.key)
            if o.type == "info" and o.process != NEMESIS:
                retired.add(o.process)
    assert not open_ops, f"invocations without a completion: {list(open_ops.values())}"


class Run:
    """One seeded loop over a fresh pool, history on disk."""

    def __init__(self, tmp_path: Path, seed: int, *, op_timeout_s: float = OP_TIMEOUT_S,
                 nemesis_timeout_s: float = NEMESIS_TIMEOUT_S, stuck: float = 0.03) -> None:
        self.path = tmp_path / f"history-{seed}.jsonl"
        self.hang = Hang()
        rng = random.Random(seed)
        rng_lock = threading.Lock()

        def new_client() -> ChaoticClient:
            with rng_lock:
                return ChaoticClient(random.Random(rng.random()), self.hang,
                                     timeout_s=op_timeout_s, stuck=stuck)

        self.nemesis = ChaoticNemesis(random.Random(f"nemesis:{seed}"), self.hang)
        self.recorder = Recorder(self.path)
        self.pool = WorkerPool(self.recorder, concurrency=6, nodes=NODES, new_client=new_client,
                               nemesis=self.nemesis, op_timeout_s=op_timeout_s,
                               nemesis_timeout_s=nemesis_timeout_s, grace_s=GRACE_S)

    def close(self) -> list[Op]:
        self.pool.close(timeout_s=2.0)
        self.recorder.close()
        self.hang.released.set()  # let abandoned threads go
        return read_history(self.path)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    made: list[Run] = []
    yield made
    for r in made:  # a failed test must not leave threads hanging
        r.hang.released.set()


@pytest.mark.parametrize("seed", range(SEEDS))
def test_the_loop_ends_on_time_with_one_completion_per_invocation(
        tmp_path: Path, runs: list[Run], seed: int) -> None:
    run = Run(tmp_path, seed)
    runs.append(run)
    t0 = time.monotonic()
    result = gen.interpret(stress_plan(seed), run.pool, run.pool.threads, seed)
    took = time.monotonic() - t0
    history = run.close()
    longest = max(OP_TIMEOUT_S + GRACE_S, NEMESIS_TIMEOUT_S)
    # the workload, its last ops' timeouts, then each healing try at most one timeout
    assert took < TIME_LIMIT_S + longest + HEAL_ATTEMPTS * NEMESIS_TIMEOUT_S + SLACK_S
    assert result.invocations == result.completions and result.in_flight == 0
    assert not result.stopped
    check_history(history)
    assert 2 * result.invocations == len(history)
    assert run.nemesis.most_active <= 1, "two nemesis calls ran at once"
    assert run.pool.timeouts > 0  # the stress did stress
    assert {o.type for o in history if o.process != NEMESIS} == {"invoke", "ok", "fail", "info"}


@pytest.mark.parametrize("seed", range(SEEDS))
def test_a_stop_ends_the_loop_within_its_grace_while_ops_hang(
        tmp_path: Path, runs: list[Run], seed: int) -> None:
    """Timeouts far away (as with the default 5 s op timeout and the 2 min nemesis
    timeout): only the stop grace may end the waiting."""
    run = Run(tmp_path, seed, op_timeout_s=30.0, nemesis_timeout_s=60.0, stuck=0.25)
    runs.append(run)
    stop = threading.Event()
    stop_after = random.Random(seed).uniform(0.05, 0.25)
    threading.Timer(stop_after, stop.set).start()
    grace_s = 0.2
    t0 = time.monotonic()
    result = gen.interpret(stress_plan(seed), run.pool, run.pool.threads, seed,
                           should_stop=stop.is_set, stop_grace_ns=gen.seconds_to_ns(grace_s))
    took = time.monotonic() - t0
    assert result.stopped
    assert took < stop_after + grace_s + WAIT_SLICE_S + SLACK_S
    assert result.in_flight > 0  # hanging ops were left to the pool
    assert result.invocations == result.completions + result.in_flight
    history = run.close()
    check_history(history)  # closing the pool settled them
    settled = [o for o in history if o.error == "the run stopped first"]
    assert len(settled) == result.in_flight and all(o.type == "info" for o in settled)


def test_waiting_on_an_idle_pool_returns_within_a_slice(tmp_path: Path) -> None:
    """No wait of the loop's thread is unbounded, not even "until a completion comes"
    with nothing in flight: the main thread must get back to Python (signal handlers,
    the stop flag) several times a second."""
    with Recorder(tmp_path / "h.jsonl") as rec:
        pool = WorkerPool(rec, concurrency=1, nodes=NODES, new_client=lambda: ChaoticClient(
            random.Random(0), Hang()))
        returned = threading.Event()

        def wait() -> None:
            pool.next_completion(None)
            returned.set()

        threading.Thread(target=wait, daemon=True).start()
        assert returned.wait(WAIT_SLICE_S + 2.0), "next_completion(None) did not come back"
        pool.close()


def test_closing_the_pool_settles_ops_never_handed_over_as_fail(tmp_path: Path) -> None:
    hang = Hang()
    with Recorder(tmp_path / "h.jsonl") as rec:
        pool = WorkerPool(rec, concurrency=2, nodes=NODES,
                          new_client=lambda: ChaoticClient(random.Random(0), hang))
        pool.dispatch(0, Op(0, "invoke", "read", None))  # staged, not yet handed over
        pool.close()
    hang.released.set()
    history = read_history(tmp_path / "h.jsonl")
    assert [(o.process, o.type, o.error) for o in history] == [
        (0, "invoke", None), (0, "fail", "not started: the run stopped")]


def test_a_nemesis_op_while_a_timed_out_one_still_runs_fails_without_running(
        tmp_path: Path) -> None:
    hang = Hang()

    class StuckOnce:
        def __init__(self) -> None:
            self.calls: list[str] = []
            self.stuck_call_returned = threading.Event()

        def setup(self, cluster: Cluster) -> None:
            pass

        def teardown(self) -> None:
            pass

        def fs(self) -> frozenset[str]:
            return frozenset({"a", "b"})

        def invoke(self, op: Op) -> Op:
            self.calls.append(op.f)
            if op.f == "a":
                hang.wait(10)
                self.stuck_call_returned.set()
            return op.with_(type="ok")

    nemesis = StuckOnce()
    with Recorder(tmp_path / "h.jsonl") as rec:
        pool = WorkerPool(rec, concurrency=1, nodes=NODES, nemesis=nemesis,
                          nemesis_timeout_s=0.05,
                          new_client=lambda: ChaoticClient(random.Random(0), hang))
        plan = gen.nemesis([{"f": "a"}, {"f": "b"}])
        gen.interpret(plan, pool, pool.threads, seed=1)
        hang.released.set()
        assert nemesis.stuck_call_returned.wait(2)
        time.sleep(0.1)  # its abandoned thread exits
        gen.interpret(gen.nemesis({"f": "b"}), pool, pool.threads, seed=2)
        pool.close()
    done = [(o.f, o.type, o.error) for o in read_history(tmp_path / "h.jsonl")
            if o.type != "invoke"]
    assert done == [("a", "info", "timeout"),
                    ("b", "fail", "nemesis busy: a timed-out nemesis op is still running"),
                    ("b", "ok", None)]
    assert nemesis.calls == ["a", "b"]
