"""Benchmark: the run loop end to end, as fast as it goes.

``fake`` mode (default): generator + interpreter + worker threads + recorder
(``history.jsonl`` on disk, flushed per op) against an in-process client that answers
at once: the harness's own ceiling. The target is 20,000 ops/s (Jepsen's generator
does over 20k).

``raftkv`` mode: a real cluster (``--backend docker|local``), the register workload
with ``--concurrency`` workers and no rate limit, once per read path; prints ops/s and
latency quantiles per read mode.

    python bench/run_throughput.py [--ops 100000] [--concurrency 10] [--inline] [--one-cpu]

(``--one-cpu``: with the pool's optional one-CPU placement, see harness/workers.py. Run it with
``PYTHONPATH=.`` from the repository so that it measures this checkout.)
    python bench/run_throughput.py --mode raftkv --backend docker --seconds 10
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

from cluster.base import Node
from harness import generator as gen
from harness.history import read_history
from harness.op import Op
from harness.recorder import Recorder
from harness.workers import WorkerPool
from workloads.register import register_generator


class InstantClient:
    """Answers every op ok at once (a register in a dict would only add noise)."""

    def open(self, node: Node) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        return Op(op.process, "ok", op.f, op.value, op.time, op.index, op.key, op.node,
                  op.error, op.extra)

    def close(self) -> None:
        pass


class InlineExecutor:
    """Calls the client in the loop's own thread: generator + recorder + client, with no
    thread hand-off (the interpreter's own cost, as Jepsen's 20k figure measures)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.client = InstantClient()
        self.done: collections.deque[tuple[gen.Thread, Op]] = collections.deque()

    def now(self) -> int:
        return self.recorder.now()

    def dispatch(self, thread: gen.Thread, invocation: Op) -> Op:
        recorded = self.recorder.record(invocation)
        self.done.append((thread, self.client.invoke(recorded)))
        return recorded

    def next_completion(self, deadline: int | None) -> tuple[gen.Thread, Op] | None:
        if not self.done:
            return None
        thread, op = self.done.popleft()
        return thread, self.recorder.record(op)


def fake(ops: int, concurrency: int, inline: bool, one_cpu: bool = False) -> None:
    client_gen = register_generator(threads_per_key=5, ops_per_key=100, values=5)
    plan = gen.clients(gen.limit(ops, client_gen))
    nodes = [Node(f"n{i}", i, "127.0.0.1") for i in (1, 2, 3)]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.jsonl"
        with Recorder(path) as rec:
            executor: gen.Executor
            if inline:
                executor = InlineExecutor(rec)
                threads: list[gen.Thread] = list(range(concurrency))
            else:
                pool = WorkerPool(rec, concurrency=concurrency, nodes=nodes,
                                  new_client=InstantClient, one_cpu=one_cpu)
                executor, threads = pool, pool.threads
            t0, c0 = time.perf_counter(), time.process_time()
            result = gen.interpret(plan, executor, threads, seed=1)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            if not inline:
                pool.close()
        n = result.invocations
        lines = sum(1 for _ in path.open())
        assert lines == 2 * n, (lines, n)
        read_history(path)  # the file is a valid history
    how = "in the loop's thread" if inline else f"{concurrency} worker threads"
    print(f"fake client, {how}: {n} ops ({lines} history lines): "
          f"{n / dt:,.0f} ops/s wall ({dt:.2f} s), {n / cpu:,.0f} ops per CPU second")


def raftkv(seconds: float, concurrency: int, backend: str, modes: list[str]) -> None:
    from rich.console import Console

    from harness.runner import run_test
    from harness.test import build_test

    console = Console(quiet=True)
    rows = []
    with tempfile.TemporaryDirectory() as store:
        for mode in modes:
            test = build_test({"workload": "register", "time_limit": seconds, "rate": 100_000,
                               "concurrency": concurrency, "read_mode": mode, "seed": 1,
                               "backend": backend, "store": store, "recovery_time": 0})
            code = run_test(test, console=console, show_progress=False)
            results = json.loads((Path(store) / "latest" / "results.json").read_text())
            perf = results["perf"]
            rows.append((mode, code, perf))
    for mode, code, perf in rows:
        lat = perf.get("latency_ms") or {}
        read = (perf.get("by_f", {}).get("read") or {}).get("latency_ms") or {}
        print(f"read mode {mode:9} exit {code}: {perf['throughput']['completed_per_s']:7.0f} "
              f"ops/s ({perf['throughput']['ok_per_s']:.0f} ok/s); latency ms all ops "
              f"{_quantiles(lat)}; reads {_quantiles(read)}")


def _quantiles(stats: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in stats.items() if k in ("p50", "p95", "p99", "max"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("fake", "raftkv"), default="fake")
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backend", default="docker")
    parser.add_argument("--read-modes", default="log,index,lease,follower")
    parser.add_argument("--inline", action="store_true",
                        help="fake mode: call the client in the loop's thread")
    parser.add_argument("--one-cpu", action="store_true",
                        help="fake mode: keep the loop and client workers on one CPU "
                             "(WorkerPool(one_cpu=True), see harness/workers.py)")
    args = parser.parse_args()
    if args.mode == "fake":
        fake(args.ops, args.concurrency, args.inline, one_cpu=args.one_cpu)
    else:
        raftkv(args.seconds, args.concurrency, args.backend, args.read_modes.split(","))


if __name__ == "__main__":
    main()
