"""A ``chaos run`` interrupted by SIGINT in the middle of a partition leaves nothing
behind: no drop rule, no qdisc, nothing paused, no clock skew, no cluster.

"In the middle of a partition" is made sure of on the host, not inferred from the
history: the nemesis opens and closes partitions after random gaps (uniform in
``[0, 2 * interval)``, so one may last a few milliseconds), and the history only says
what was done a moment ago. So the test waits, with a deadline, until the host itself
shows a drop rule of the cluster, and sends SIGINT at once. With 3 s between faults a
partition lasts 3 s on average, long against the fraction of a second the look takes.
If the run does not end, it is killed and the cluster removed (``chaos heal --down``),
so a failing test leaves nothing either.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_nemesis_real import BACKENDS, leftovers, wait_for

from cluster import docker, local
from cluster.backends import slug_of


def _partition_in_force(store: Path) -> bool:
    """What the history says: a partition was started and not yet stopped."""
    for history in store.glob("*/*/history.jsonl"):
        ops = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
        done = [op["f"] for op in ops if op.get("process") == "nemesis" and op["type"] == "ok"]
        if done.count("start-partition") > done.count("stop-partition"):
            return True
    return False


def _interrupt_during_a_partition(run: subprocess.Popen[str], slug: str, store: Path,
                                  timeout_s: float) -> list[str]:
    """Send SIGINT as soon as the host shows this cluster's drop rules; return them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and run.poll() is None:
        if _partition_in_force(store):  # cheap hint; the host is the truth
            rules = [line for line in leftovers(slug) if "RAFTCHAOS-IN" in line]
            if rules:
                run.send_signal(signal.SIGINT)
                return rules
        time.sleep(0.05)
    raise AssertionError(f"no partition in force on the host within {timeout_s:g}s")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigint_in_the_middle_of_a_partition_leaves_nothing(backend: str,
                                                            tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "harness.cli", "run", "--backend", backend, "--nodes", "3",
            "--nemesis", "partition", "--nemesis-interval", "3", "--time-limit", "60",
            "--concurrency", "2", "--rate", "5", "--store", str(tmp_path)]
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert run.stdout is not None
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(run.stdout or ()), daemon=True)
    reader.start()
    name = None
    try:
        found = wait_for("the cluster's name", lambda: re.search(r"\(cluster (rc-[0-9a-f]+)\)",
                                                                 "".join(out)), timeout_s=60)
        name = found.group(1)
        slug = slug_of(name)
        rules = _interrupt_during_a_partition(run, slug, tmp_path, timeout_s=120)
        assert rules, "the partition is there when the interrupt comes"
        run.wait(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
            if name is not None:  # the run could not heal: leave nothing all the same
                subprocess.run([sys.executable, "-m", "harness.cli", "heal", "--name", name,
                                "--backend", backend, "--down"], capture_output=True,
                               timeout=300, check=False)
        reader.join(timeout=10)
    assert run.returncode in (0, 1, 3), "".join(out)
    assert leftovers(slug) == []
    if backend == "docker":
        assert docker.find_leftovers(docker.project_name(slug)) == []
    else:
        assert local.find_leftovers(slug) == []
