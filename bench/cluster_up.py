"""Benchmark: seconds from nothing to N raftkv nodes up and healthy (a leader agreed on).

For each backend asked for, brings a cluster up from the built image (Docker) or the
release binary (local) ``--runs`` times, timing ``up()`` (which waits for every node to
answer ``/status`` and name one leader) and ``down()``. The target on the development
machine is five Docker nodes in under 15 s.

    python bench/cluster_up.py [--nodes 5] [--runs 3] [--backend docker --backend local]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from cluster.backends import make_cluster
from cluster.base import ClusterSpec


def time_one(backend: str, nodes: int, run: int, scratch: Path) -> tuple[float, float]:
    spec = ClusterSpec(name=f"bench-up-{backend}-{run}", nodes=nodes,
                       run_dir=scratch / f"{backend}-{run}", health_timeout_s=60)
    cluster = make_cluster(backend, spec)
    start = time.monotonic()
    try:
        cluster.up()
        up_s = time.monotonic() - start
    finally:
        start_down = time.monotonic()
        cluster.down()
    return up_s, time.monotonic() - start_down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", action="append", choices=("docker", "local"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-up-") as tmp:
        for backend in args.backend or ["docker", "local"]:
            ups, downs = [], []
            for run in range(args.runs):
                up_s, down_s = time_one(backend, args.nodes, run, Path(tmp))
                ups.append(up_s)
                downs.append(down_s)
            print(f"{backend}: {args.nodes} nodes up and healthy in "
                  f"median {statistics.median(ups):.2f} s (min {min(ups):.2f}, "
                  f"max {max(ups):.2f}; {args.runs} runs); down in "
                  f"median {statistics.median(downs):.2f} s")


if __name__ == "__main__":
    main()
