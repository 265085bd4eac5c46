"""``chaos run`` end to end against real raftkv clusters (Docker, or local namespaces).

Slow and marked: they need the raftkv image (``python -m cluster.image``) and a Docker
engine, or root for network namespaces. Each runs the real CLI in a subprocess, the way
users and CI do, and asserts on exit codes, the stored run and the history.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.history import read_history

CHAOS = [sys.executable, "-m", "harness.cli"]


def have_docker_image() -> bool:
    if shutil.which("docker") is None:
        return False
    out = subprocess.run(["docker", "image", "inspect", "raftkv:latest"], capture_output=True)
    return out.returncode == 0


def have_local_backend() -> bool:
    binary = Path("cluster/node/target/release/raftkv").exists() or "RAFTKV_BIN" in os.environ
    return os.geteuid() == 0 and binary


needs_docker = pytest.mark.skipif(not have_docker_image(),
                                  reason="needs a Docker engine and the raftkv image")
needs_local = pytest.mark.skipif(not have_local_backend(),
                                 reason="needs root and a built raftkv binary")


def chaos_run(store: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHAOS, "run", "--store", str(store), *args], capture_output=True,
                          text=True, timeout=timeout)


def latest(store: Path) -> Path:
    return (store / "latest").resolve()


def assert_register_run(store: Path, proc: subprocess.CompletedProcess[str], code: int) -> None:
    assert proc.returncode == code, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = latest(store)
    results = json.loads((run / "results.json").read_text())
    assert results["exit_code"] == code
    history = read_history(run / "history.jsonl")
    assert sum(1 for o in history if o.type == "invoke" and o.is_client) > 200
    assert any(o.f == "start-partition" and o.type == "ok" for o in history)
    assert history[-1].type != "invoke" or not history[-1].is_client
    assert (run / "nodes").is_dir() and any((run / "nodes").iterdir())


BASE = ["--workload", "register", "--nemesis", "partition", "--nemesis-interval", "2",
        "--time-limit", "10", "--seed", "7"]


@pytest.mark.docker
@pytest.mark.slow
@needs_docker
def test_docker_register_with_partitions_is_valid(tmp_path: Path) -> None:
    proc = chaos_run(tmp_path, *BASE, "--backend", "docker")
    assert_register_run(tmp_path, proc, 0)


@pytest.mark.docker
@pytest.mark.slow
@needs_docker
def test_docker_stale_reads_are_caught(tmp_path: Path) -> None:
    proc = chaos_run(tmp_path, *BASE[:-4], "--time-limit", "20", "--seed", "3",
                     "--read-mode", "stale", "--backend", "docker")
    assert_register_run(tmp_path, proc, 1)
    results = json.loads((latest(tmp_path) / "results.json").read_text())
    assert results["valid"] is False
    assert any("Read of key" in a["explanation"] for a in results["anomalies"])


@pytest.mark.netns
@pytest.mark.slow
@needs_local
def test_local_register_with_partitions_is_valid(tmp_path: Path) -> None:
    proc = chaos_run(tmp_path, *BASE, "--backend", "local")
    assert_register_run(tmp_path, proc, 0)


@pytest.mark.docker
@pytest.mark.slow
@needs_docker
def test_a_sigkilled_docker_run_leaves_a_checkable_history(tmp_path: Path) -> None:
    proc = subprocess.Popen([*CHAOS, "run", "--store", str(tmp_path), *BASE[:-4],
                             "--time-limit", "120", "--backend", "docker"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cluster = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            m = re.search(r"\(cluster (rc-[0-9a-f]+)\)", line)
            if m:
                cluster = m.group(1)
                break
        history = tmp_path / "latest" / "history.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if history.exists() and history.stat().st_size > 30_000:
                break
            time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
        check = subprocess.run([*CHAOS, "check", "--model", "cas-register", "--independent",
                                str(history)], capture_output=True, text=True, timeout=300)
        assert check.returncode == 0, check.stdout + check.stderr
        assert len(read_history(history)) > 100
    finally:
        if proc.poll() is None:
            proc.kill()
        assert cluster is not None
        heal = subprocess.run([*CHAOS, "heal", "--name", cluster, "--down"],
                              capture_output=True, text=True, timeout=300)
        assert heal.returncode == 0, heal.stdout + heal.stderr
