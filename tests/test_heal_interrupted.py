"""A ``chaos run`` interrupted by SIGINT in the middle of a partition leaves nothing
behind: no drop rule, no qdisc, nothing paused, no clock skew, no cluster."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_nemesis_real import BACKENDS, leftovers, wait_for

from cluster import docker, local
from cluster.backends import slug_of


def _partition_in_force(store: Path) -> bool:
    for history in store.glob("*/*/history.jsonl"):
        ops = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
        done = [op["f"] for op in ops if op.get("process") == "nemesis" and op["type"] == "ok"]
        if done.count("start-partition") > done.count("stop-partition"):
            return True
    return False


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigint_in_the_middle_of_a_partition_leaves_nothing(backend: str,
                                                            tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "harness.cli", "run", "--backend", backend, "--nodes", "3",
            "--nemesis", "partition", "--nemesis-interval", "1", "--time-limit", "60",
            "--concurrency", "2", "--rate", "5", "--store", str(tmp_path)]
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert run.stdout is not None
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(run.stdout or ()), daemon=True)
    reader.start()
    try:
        found = wait_for("the cluster's name", lambda: re.search(r"\(cluster (rc-[0-9a-f]+)\)",
                                                                 "".join(out)), timeout_s=60)
        slug = slug_of(found.group(1))
        wait_for("a partition in force", lambda: _partition_in_force(tmp_path), timeout_s=120)
        assert leftovers(slug), "the partition is there before the interrupt"
        run.send_signal(signal.SIGINT)
        run.wait(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        reader.join(timeout=10)
    assert run.returncode in (0, 1, 3), "".join(out)
    assert leftovers(slug) == []
    if backend == "docker":
        assert docker.find_leftovers(docker.project_name(slug)) == []
    else:
        assert local.find_leftovers(slug) == []
