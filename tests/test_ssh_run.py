"""``chaos run --backend ssh`` end to end, against sshd test hosts in network namespaces.

The register workload with partitions and kills must run, heal, check valid and exit 0,
leaving nothing behind on the 'remote' hosts; a refused host key, an unreachable node
and a bad inventory must each be one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_hosts import SshdHosts, leftovers

from cluster.local import DEFAULT_BINARY
from harness.errors import EXIT_USAGE, EXIT_VALID

REPO = Path(__file__).resolve().parent.parent
CONNECT_TIMEOUT_S = 3


def chaos(*args: str, env: dict[str, str] | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, check=False,
                          env={**os.environ, **(env or {})})


def inventory(tmp_path: Path, hosts: SshdHosts, known: str, *,
              extra_host: str | None = None) -> Path:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(known)
    text = (f'[ssh]\nknown_hosts = "{known_hosts}"\nconnect_timeout_s = {CONNECT_TIMEOUT_S}\n\n'
            f'[defaults]\nkey_file = "{hosts.client_key}"\n\n')
    ips = [h.ip for h in hosts.hosts] + ([extra_host] if extra_host else [])
    for i, ip in enumerate(ips, start=1):
        text += f'[[nodes]]\nhost = "{ip}"\ndata_dir = "{tmp_path / "remote" / f"n{i}"}"\n\n'
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdHosts]:
    with SshdHosts(3, tmp_path_factory.mktemp("sshd")) as made:
        yield made
    netns, links = leftovers()
    assert not [n for n in netns if made.tag in n] and not [x for x in links if made.tag in x]


@pytest.fixture(scope="module")
def raftkv_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """RAFTKV_BIN pointing at a copy no rebuild changes during the run."""
    copy = tmp_path_factory.mktemp("bin") / "raftkv"
    shutil.copy2(Path(os.environ.get("RAFTKV_BIN") or DEFAULT_BINARY), copy)
    return {"RAFTKV_BIN": str(copy)}


@pytest.mark.netns
@pytest.mark.slow
def test_a_register_run_with_partitions_and_kills_over_ssh_is_valid(
        hosts: SshdHosts, tmp_path: Path, raftkv_env: dict[str, str]) -> None:
    inv = inventory(tmp_path, hosts, hosts.known_hosts())
    store = tmp_path / "store"
    done = chaos("run", "--backend", "ssh", "--inventory", str(inv), "--workload", "register",
                 "--nemesis", "partition,kill", "--nemesis-interval", "3", "--nodes", "3",
                 "--time-limit", "20", "--rate", "20", "--concurrency", "4", "--seed", "7",
                 "--store", str(store), env=raftkv_env)
    assert done.returncode == EXIT_VALID, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = (store / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["run"]["backend"] == "ssh"
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    done_faults = {op["f"] for op in history if op["process"] == "nemesis" and op["type"] == "ok"}
    assert {"start-partition", "kill"} <= done_faults, done_faults
    for node in ("n1", "n2", "n3"):
        assert (run_dir / "nodes" / node / "raftkv.log").stat().st_size > 0
    for host in hosts.hosts:  # healed and stopped: no rule, no daemon, no data left
        rules = subprocess.run(["ip", "netns", "exec", host.netns, "iptables", "-S"],
                               capture_output=True, text=True, check=True).stdout
        assert "RAFTCHAOS" not in rules
        pids = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True,
                              text=True, check=True).stdout.split()
        cmdlines = [Path(f"/proc/{p}/cmdline").read_bytes() for p in pids
                    if Path(f"/proc/{p}/cmdline").exists()]
        assert not [c for c in cmdlines if str(tmp_path / "remote").encode() in c]
    assert not list((tmp_path / "remote").glob("*/node"))


@pytest.mark.netns
@pytest.mark.slow
def test_a_node_with_an_unknown_host_key_is_refused_with_one_line(
        hosts: SshdHosts, tmp_path: Path, raftkv_env: dict[str, str]) -> None:
    inv = inventory(tmp_path, hosts, hosts.known_hosts(hosts.hosts[:2]))
    done = chaos("run", "--backend", "ssh", "--inventory", str(inv), "--nodes", "3",
                 "--time-limit", "5", "--store", str(tmp_path / "store"), env=raftkv_env)
    assert done.returncode == EXIT_USAGE, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"chaos: error: n3 (root@{hosts.hosts[2].ip}:22): unknown host key")
    assert "--accept-new-host-keys" in last
    assert not (tmp_path / "remote").exists()


@pytest.mark.netns
@pytest.mark.slow
def test_an_unreachable_node_is_named_within_the_connect_timeout(
        hosts: SshdHosts, tmp_path: Path, raftkv_env: dict[str, str]) -> None:
    inv = inventory(tmp_path, hosts, hosts.known_hosts(), extra_host=hosts.unused_ip())
    began = time.monotonic()
    done = chaos("run", "--backend", "ssh", "--inventory", str(inv), "--nodes", "4",
                 "--time-limit", "5", "--store", str(tmp_path / "store"), env=raftkv_env)
    elapsed = time.monotonic() - began
    assert done.returncode == EXIT_USAGE, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"chaos: error: n4 (root@{hosts.unused_ip()}:22): unreachable")
    assert elapsed < CONNECT_TIMEOUT_S + 10, f"took {elapsed:.1f}s"  # + interpreter start-up


def test_a_bad_inventory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "inventory.toml"
    bad.write_text('[[nodes]]\nhost = "10.0.0.1"\n')
    done = chaos("run", "--backend", "ssh", "--inventory", str(bad), "--nodes", "1",
                 "--time-limit", "1", "--store", str(tmp_path / "store"), timeout=60)
    assert done.returncode == EXIT_USAGE
    assert done.stderr.strip().splitlines()[-1] == (
        f"chaos: error: inventory {bad}: nodes[1] (n1): missing 'data_dir'")
