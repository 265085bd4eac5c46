"""Cluster backends without a cluster: names, subnets, clock files, health waiting, the CLI."""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cluster import clock as clocks
from cluster import docker as docker_backend
from cluster import local as local_backend
from cluster import subnets
from cluster.backends import choose_backend, make_cluster, slug_of
from cluster.base import ClockSetting, ClusterSpec, Node
from cluster.cli import clock_cell, spec_from_json, spec_to_json
from cluster.cli import cluster as cluster_cli
from cluster.health import leader_problem, wait_healthy
from harness.client import DefiniteError
from harness.errors import EnvironmentProblem, InputError

# -- names and subnets ---------------------------------------------------------------------


def test_slug_of_names() -> None:
    assert slug_of("Register Test 2024-01-01T12:00") == "register-test-2024-01-01t12-00"
    assert len(slug_of("x" * 100)) == 40
    with pytest.raises(InputError):
        slug_of("!!!")


def test_local_interface_names_fit_the_kernel_limit() -> None:
    names = local_backend.LocalNames(slug_of("a-very-long-cluster-name-" * 3))
    assert len(names.bridge) <= 15 and len(names.veth(9)) <= 15
    assert names.netns("n3").startswith("raftchaos-a-very-long")
    assert names.alias == "raft-chaos:" + names.slug
    other = local_backend.LocalNames("another")
    assert other.bridge != names.bridge


def test_pick_subnet_skips_routes_and_docker_networks() -> None:
    used = subnets.routes_in_use(json.dumps([
        {"dst": "default"}, {"dst": "172.28.0.0/24"}, {"dst": "172.28.1.5"},
        {"dst": "fe80::/64"}]))
    assert IPv4Network("172.28.0.0/24") in used
    docker_nets = subnets.docker_subnets([{"Subnet": "172.28.2.0/23"}, {"Subnet": "fd00::/64"}])
    chosen = subnets.pick_subnet(used + docker_nets, subnets.DOCKER_POOL)
    assert chosen == IPv4Network("172.28.4.0/24")
    assert subnets.node_ip(chosen, 3) == "172.28.4.13"
    assert subnets.gateway_ip(chosen) == "172.28.4.1"
    assert subnets.net_prefix(chosen) == "172.28.4"
    with pytest.raises(EnvironmentProblem, match="no free /24"):
        subnets.pick_subnet([IPv4Network("10.0.0.0/8")], IPv4Network("10.1.0.0/23"))


def test_forward_rules_are_found_by_comment() -> None:
    names = local_backend.LocalNames("demo")
    text = ("-P FORWARD DROP\n"
            f'-A FORWARD -i {names.bridge} -o {names.bridge} -m comment --comment '
            f'"raft-chaos:demo" -j ACCEPT\n'
            '-A FORWARD -i x -o x -m comment --comment "raft-chaos:demo2" -j ACCEPT\n'
            "-A FORWARD -o docker0 -j DOCKER\n")
    mine = local_backend.our_forward_rules(text, "demo")
    assert mine == [["FORWARD", "-i", names.bridge, "-o", names.bridge, "-m", "comment",
                     "--comment", "raft-chaos:demo", "-j", "ACCEPT"]]
    assert len(local_backend.our_forward_rules(text, None)) == 2


def test_namespaces_are_matched_exactly() -> None:
    listing = ("raftchaos-demo-n1 (id: 3)\nraftchaos-demo-n2\nraftchaos-demo-2-n1\n"
               "rcssh-abc-h1\nraftchaos-demo-nx\n")
    assert local_backend.our_namespaces(listing, "demo") == ["raftchaos-demo-n1",
                                                             "raftchaos-demo-n2"]
    assert local_backend.our_namespaces(listing, None) == [
        "raftchaos-demo-n1", "raftchaos-demo-n2", "raftchaos-demo-2-n1"]


def test_raftkv_argv_and_peers(tmp_path: Path) -> None:
    nodes = [Node("n1", 1, "10.213.0.11"), Node("n2", 2, "10.213.0.12")]
    spec = ClusterSpec(name="x", nodes=2, run_dir=tmp_path, read_mode="lease",
                       unsafe=("stale-reads", "no-fsync"))
    peers = local_backend.peers_arg(nodes)
    assert peers == "1=10.213.0.11:9000,2=10.213.0.12:9000"
    argv = local_backend.raftkv_argv(Path("/bin/raftkv"), nodes[1], peers, tmp_path, spec)
    assert argv[:3] == ["/bin/raftkv", "--id", "2"]
    assert argv[argv.index("--read-mode") + 1] == "lease"
    assert argv[argv.index("--unsafe") + 1] == "stale-reads,no-fsync"


# -- docker helpers ------------------------------------------------------------------------------

def test_compose_env_carries_the_cluster(tmp_path: Path) -> None:
    subnet = IPv4Network("172.28.7.0/24")
    spec = ClusterSpec(name="x", nodes=3, run_dir=tmp_path, unsafe=("ack-before-commit",))
    env = docker_backend.compose_env(spec, docker_backend.nodes_on(subnet, 3), subnet,
                                     tmp_path / "clock")
    assert env["RAFTKV_SUBNET"] == "172.28.7.0/24" and env["RAFTKV_NET"] == "172.28.7"
    assert env["RAFTKV_PEERS"] == ("1=172.28.7.11:9000,2=172.28.7.12:9000,"
                                   "3=172.28.7.13:9000")
    assert env["RAFTKV_UNSAFE"] == "ack-before-commit"
    assert env["RAFTKV_CLOCK_DIR"] == str(tmp_path / "clock")
    assert docker_backend.project_name("My Run") == "raftchaos-my-run"


def test_compose_and_engine_messages() -> None:
    clash = "ERROR: Pool overlaps with other one on this address space"
    assert docker_backend.is_subnet_clash(clash)
    assert "subnet 172.28.0.0/24 is in use" in docker_backend.compose_message(
        clash, "p", "172.28.0.0/24")
    assert "chaos cluster build" in docker_backend.compose_message(
        "pull access denied for raftkv", "p", "s")
    assert "port" in docker_backend.compose_message(
        "Bind for 0.0.0.0:8000 failed: port is already allocated", "p", "s")
    denied = docker_backend.engine_message("('Connection aborted.', PermissionError(13, "
                                           "'Permission denied'))")
    assert denied.startswith("no permission") and "usermod -aG docker" in denied
    gone = docker_backend.engine_message("Error while fetching server API version: "
                                         "FileNotFoundError(2, 'No such file or directory')")
    assert gone.startswith("no Docker engine reachable") and "--backend local" in gone


def test_no_engine_falls_back_to_local_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/raft-chaos-no-such-docker.sock")
    backend, note = choose_backend(None)
    assert backend == "local"
    assert note is not None and "no Docker engine reachable" in note and "local" in note
    assert choose_backend("docker") == ("docker", None)
    with pytest.raises(InputError, match="unknown backend"):
        choose_backend("kubernetes")


def test_unknown_backend_and_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown backend"):
        make_cluster("vagrant", ClusterSpec(name="x", nodes=3, run_dir=tmp_path))
    with pytest.raises(InputError, match=r"1\.\.9"):
        make_cluster("local", ClusterSpec(name="x", nodes=12, run_dir=tmp_path))


def test_docker_up_without_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/raft-chaos-no-such-docker.sock")
    cluster = make_cluster("docker", ClusterSpec(name="x", nodes=3, run_dir=tmp_path))
    with pytest.raises(EnvironmentProblem, match="no Docker engine reachable"):
        cluster.up()


# -- clocks --------------------------------------------------------------------------------

def test_clock_lines_round_trip() -> None:
    for setting in (ClockSetting(), ClockSetting(offset_ms=1500), ClockSetting(-250, 2.0),
                    ClockSetting(0, 0.5)):
        line = clocks.control_line(setting)
        assert len(line) == clocks.LINE_WIDTH and line.endswith(b"\n")
        assert clocks.parse_control_line(line.decode()) == setting
    assert clocks.parse_control_line("") == ClockSetting()
    with pytest.raises(ValueError):
        clocks.parse_control_line("@2020-01-01 00:00:00")
    with pytest.raises(ValueError):
        clocks.control_line(ClockSetting(0, 0.0))


def test_clock_file_is_rewritten_in_place(tmp_path: Path) -> None:
    path = clocks.control_file(tmp_path, "n2")
    assert clocks.read_clock(path) == ClockSetting()
    clocks.write_clock(path, ClockSetting(offset_ms=60_000))
    inode = os.stat(path).st_ino
    clocks.write_clock(path, ClockSetting(offset_ms=-5, rate=1.5))
    assert os.stat(path).st_ino == inode  # a bind-mounted file keeps working
    assert clocks.read_clock(path) == ClockSetting(offset_ms=-5, rate=1.5)
    env = clocks.faketime_env(Path("/lib/libfaketime.so.1"), path)
    assert env["LD_PRELOAD"] == "/lib/libfaketime.so.1"
    assert env["FAKETIME_TIMESTAMP_FILE"] == str(path)


# -- health ------------------------------------------------------------------------------------

class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


NODES = [Node("n1", 1, "10.0.0.11"), Node("n2", 2, "10.0.0.12"), Node("n3", 3, "10.0.0.13")]


def test_wait_healthy_waits_for_answers_and_one_leader() -> None:
    t = FakeTime()

    def probe(node: Node) -> dict[str, Any]:
        if node.name == "n3" and t.now < 1.0:
            raise DefiniteError("connection refused")
        return {"leader": 2 if t.now >= 2.0 else None}

    statuses = wait_healthy(NODES, 10, log_tail=lambda n: [], probe=probe, clock=t.clock,
                            sleep=t.sleep)
    assert set(statuses) == {"n1", "n2", "n3"} and 2.0 <= t.now < 2.5


def test_wait_healthy_names_the_node_and_its_last_log_lines() -> None:
    t = FakeTime()

    def probe(node: Node) -> dict[str, Any]:
        if node.name == "n2":
            raise DefiniteError("cannot send to 10.0.0.12:8000: Connection refused")
        return {"leader": 1}

    with pytest.raises(EnvironmentProblem) as caught:
        wait_healthy(NODES, 5, log_tail=lambda n: ["starting", f"{n}: rocksdb lock held"],
                     probe=probe, clock=t.clock, sleep=t.sleep)
    message = str(caught.value)
    assert "node n2 (10.0.0.12:8000) never became healthy within 5s" in message
    assert "n2: rocksdb lock held" in message and "\n" not in message


def test_leader_problems() -> None:
    assert leader_problem({"n1": {"leader": 1}, "n2": {"leader": 1}}) is None
    assert leader_problem({"n1": {"leader": 0}, "n2": {"leader": 1}}) == "no leader known to n1"
    assert "disagree" in (leader_problem({"n1": {"leader": 1}, "n2": {"leader": 2}}) or "")


# -- the CLI -------------------------------------------------------------------------------------

def test_spec_json_round_trip(tmp_path: Path) -> None:
    spec = ClusterSpec(name="x", nodes=5, run_dir=tmp_path, unsafe=("no-fsync",),
                       inventory=tmp_path / "hosts.toml")
    assert spec_from_json(json.loads(json.dumps(spec_to_json("local", spec)))) == ("local", spec)


def test_clock_cell_shows_skew() -> None:
    assert clock_cell(None, 0) == "-"
    assert clock_cell(60_000, 0) == "00:01:00.000 (+60.0s)"
    assert clock_cell(100, 0) == "00:00:00.100"


def test_cli_input_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    store = ["--store", str(tmp_path)]
    result = runner.invoke(cluster_cli, ["status", *store], standalone_mode=False)
    assert isinstance(result.exception, InputError)
    assert "no cluster recorded" in str(result.exception)
    result = runner.invoke(cluster_cli, ["down", *store], standalone_mode=False)
    assert isinstance(result.exception, InputError)
    assert "exactly one of --name NAME or --all" in str(result.exception)
    result = runner.invoke(cluster_cli, ["logs", "--name", "nope", *store], standalone_mode=False)
    assert isinstance(result.exception, InputError) and "no cluster named 'nope'" in str(
        result.exception)
    assert InputError.exit_code == 2


def test_wait_healthy_fails_at_once_when_a_process_exits() -> None:
    t = FakeTime()

    def probe(node: Node) -> dict[str, Any]:
        raise DefiniteError("connection refused")

    with pytest.raises(EnvironmentProblem, match=r"node n1 .* exited before it became healthy; "
                                                 r"last log lines: panic: bad flag"):
        wait_healthy(NODES, 30, log_tail=lambda n: ["panic: bad flag"],
                     is_running=lambda n: False, probe=probe, clock=t.clock, sleep=t.sleep)
    assert t.now == 0.0


def test_cluster_spec_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A relative store (the default `store/`) must not reach Compose as a relative bind
    # mount, which Compose reads as a named volume.
    monkeypatch.chdir(tmp_path)
    spec = ClusterSpec(name="t", nodes=3, run_dir=Path("store/t/1"), inventory=Path("inv.toml"))
    assert spec.run_dir == tmp_path / "store" / "t" / "1"
    assert spec.inventory == tmp_path / "inv.toml"
