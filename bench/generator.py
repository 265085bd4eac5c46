"""Benchmark: how many ops per second the generator stack plans, on simulate's fake clock.

The stack is the register workload's (independent keys, each a mix of read/write/cas
limited per key), wrapped as the runner wraps it (clients/nemesis split, stagger, time
limit), with a nemesis schedule alongside. Ops complete instantly, so this measures
the generator and the interpreter loop alone.

    python bench/generator.py [--ops 100000] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import time

from harness.generator import cycle, once, simulate, sleep, split, stagger, time_limit
from workloads.register import register_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    nem = cycle(sleep(10, jitter=0.5), once({"f": "start-partition", "value": "majority"}),
                sleep(10, jitter=0.5), once({"f": "stop-partition"}))
    client = register_generator(threads_per_key=5, ops_per_key=100, values=5)
    # 1 µs apart on the fake clock: as fast as the loop can go.
    g = time_limit(3600, split(stagger(1e-6, client), nem))
    t0, c0 = time.perf_counter(), time.process_time()
    history = simulate(g, concurrency=args.concurrency, seed=1, max_ops=args.ops)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = sum(1 for o in history if o.type == "invoke")
    print(f"{n} ops planned and completed: {n / dt:,.0f} ops/s wall ({dt:.2f} s), "
          f"{n / cpu:,.0f} ops per CPU second (concurrency {args.concurrency})")


if __name__ == "__main__":
    main()
