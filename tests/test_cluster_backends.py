"""Both real backends, with real raftkv nodes and real faults, through the Cluster interface.

One 3-node cluster per backend (module scope): a leader is elected; writes and reads go
through the API; killing the leader elects another and the restarted node catches up;
a paused node stops answering until resumed; an isolated node cannot reach its peers
from inside its namespace while the majority commits, and catches up after heal; a
100 ms delay raises the measured round trip; 100% loss silences a node; a clock offset
moves the node's status clock. Every test ends healed (no rule, qdisc or pause left),
and the fixture's teardown asserts that ``down`` leaves no namespace, container, network,
volume or host rule behind.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import docker as docker_backend
from cluster import local as local_backend
from cluster.backends import Enterable, make_cluster, slug_of
from cluster.base import ClockSetting, Cluster, ClusterSpec, Node, PacketFault
from cluster.health import probe_status
from cluster.raftkv_api import RaftkvAPI
from harness.client import DefiniteError, IndeterminateError

BACKENDS = [
    pytest.param("docker", marks=[pytest.mark.docker, pytest.mark.slow]),
    pytest.param("local", marks=[pytest.mark.netns, pytest.mark.slow]),
]
ELECTION_S = 20.0
CONNECT_PROBE = ("import socket, sys\n"
                 "try:\n"
                 "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)\n"
                 "except OSError as e:\n"
                 "    sys.exit(f'unreachable: {e}')\n")


def leftovers(backend: str, name: str) -> list[str]:
    if backend == "docker":
        return docker_backend.find_leftovers(docker_backend.project_name(name))
    return local_backend.find_leftovers(slug_of(name))


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    backend: str = request.param
    spec = ClusterSpec(name=f"pytest-{backend}-{os.getpid()}", nodes=3,
                       run_dir=tmp_path_factory.mktemp(backend), health_timeout_s=60)
    the_cluster = make_cluster(backend, spec)
    the_cluster.up()
    yield the_cluster
    the_cluster.heal()
    assert leftovers(backend, spec.name) != []  # the check below can see what it checks
    the_cluster.down()
    assert leftovers(backend, spec.name) == []


@pytest.fixture(autouse=True)
def healed_after(cluster: Cluster) -> Iterator[None]:
    yield
    cluster.heal()
    for node in cluster.nodes():
        cluster.start(node.name)
    found = [f for n in cluster.nodes() for f in cluster.faults.inspect(n.name)]  # type: ignore[attr-defined]
    assert found == [], f"heal left faults behind: {found}"


# -- helpers ---------------------------------------------------------------------------------

def status(node: Node, timeout: float = 1.0) -> dict[str, Any]:
    return probe_status(node, timeout=timeout)


def wait_for(what: str, check: Any, timeout_s: float = ELECTION_S) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (DefiniteError, IndeterminateError, OSError) as e:
            last, result = e, None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def leader(cluster: Cluster, among: list[Node] | None = None, not_id: int | None = None) -> Node:
    """The node that says it is the leader (and that the others follow)."""
    candidates = among or list(cluster.nodes())

    def find() -> Node | None:
        for node in candidates:
            try:
                s = status(node)
            except (DefiniteError, IndeterminateError):
                continue
            if s["role"] == "leader" and s["id"] != not_id:
                return node
        return None

    found: Node = wait_for("a leader", find)
    return found


def write(node: Node, key: str, value: str) -> None:
    api = RaftkvAPI(node.client_addr, timeout=5)
    try:
        api.put(key, value)
    finally:
        api.close()


def read(node: Node, key: str, mode: str = "index") -> str | None:
    api = RaftkvAPI(node.client_addr, timeout=5)
    try:
        return api.get(key, read=mode)
    finally:
        api.close()


def caught_up(node: Node, index: int) -> bool:
    return bool(status(node)["applied"] >= index)


def round_trip_ms(node: Node, samples: int = 5) -> float:
    """Median time of a status request on a fresh connection (handshake included)."""
    times = []
    for _ in range(samples):
        start = time.monotonic()
        status(node, timeout=5)
        times.append((time.monotonic() - start) * 1000)
    return statistics.median(times)


def can_connect(cluster: Cluster, src: str, dst: Node) -> bool:
    assert isinstance(cluster, Enterable)
    done = cluster.exec_in(src).run(["python3", "-c", CONNECT_PROBE, dst.ip,
                                     str(dst.raft_port)])
    return done.returncode == 0


# -- the scenario ----------------------------------------------------------------------------

def test_leader_elected_and_kv_works(cluster: Cluster) -> None:
    boss = leader(cluster)
    assert {status(n)["leader"] for n in cluster.nodes()} == {boss.id}
    write(boss, "greeting", "hello")
    assert read(boss, "greeting") == "hello"


def test_killed_leader_is_replaced_and_catches_up_after_restart(cluster: Cluster) -> None:
    old = leader(cluster)
    cluster.kill(old.name)
    assert not cluster.is_running(old.name)
    rest = [n for n in cluster.nodes() if n != old]
    new = leader(cluster, among=rest, not_id=old.id)
    write(new, "after-kill", "v2")
    target = status(new)["commit"]
    cluster.start(old.name)
    assert cluster.is_running(old.name)
    wait_for(f"{old.name} to catch up to {target}", lambda: caught_up(old, target))
    assert read(leader(cluster), "after-kill") == "v2"


def test_paused_node_stops_answering_until_resumed(cluster: Cluster) -> None:
    node = next(n for n in cluster.nodes() if n != leader(cluster))
    cluster.pause(node.name)
    assert cluster.node_state(node.name) == "paused"  # type: ignore[attr-defined]
    with pytest.raises((DefiniteError, IndeterminateError)):
        status(node, timeout=1.0)
    cluster.resume(node.name)
    assert status(node, timeout=5)["id"] == node.id


def test_isolated_node_cannot_reach_peers_while_majority_commits(cluster: Cluster) -> None:
    boss = leader(cluster)
    lonely = next(n for n in cluster.nodes() if n != boss)
    others = [n for n in cluster.nodes() if n != lonely]
    grudge = {lonely.name: {n.name for n in others},
              **{n.name: {lonely.name} for n in others}}
    said = cluster.partition(grudge)
    assert any(line.startswith(f"{lonely.name} drops packets from") for line in said)
    for peer in others:
        assert not can_connect(cluster, lonely.name, peer)
    assert can_connect(cluster, others[0].name, others[1])  # the majority still talks
    boss = leader(cluster, among=others)
    write(boss, "during-partition", "v3")
    target = status(boss)["commit"]  # counts the acknowledged write (raftkv publishes first)
    assert status(lonely)["applied"] < target
    assert read(lonely, "during-partition", mode="stale") is None  # the write never got there
    cluster.heal_network()
    wait_for(f"{lonely.name} to catch up", lambda: caught_up(lonely, target))
    assert can_connect(cluster, lonely.name, others[0])


def test_delay_raises_the_round_trip(cluster: Cluster) -> None:
    node = cluster.nodes()[0]
    before = round_trip_ms(node)
    said = cluster.set_packet_fault(node.name, PacketFault(delay_ms=100))
    assert said and "delay 100ms" in said[0]
    during = round_trip_ms(node)
    cluster.clear_packet_faults()
    after = round_trip_ms(node)
    assert during >= before + 90, (before, during)
    assert after < before + 50, (before, after)


def test_total_loss_silences_a_node(cluster: Cluster) -> None:
    node = cluster.nodes()[1]
    cluster.set_packet_fault(node.name, PacketFault(loss_pct=100))
    with pytest.raises((DefiniteError, IndeterminateError)):
        status(node, timeout=1.0)
    cluster.clear_packet_faults()
    assert status(node, timeout=5)["id"] == node.id


def test_clock_offset_moves_the_status_clock(cluster: Cluster) -> None:
    node = cluster.nodes()[2]

    def skew_s() -> float:
        return float(status(node)["clock_ms"] / 1000 - time.time())

    assert abs(skew_s()) < 5
    cluster.set_clock(node.name, ClockSetting(offset_ms=60_000))
    wait_for("the clock to move", lambda: skew_s() > 55, timeout_s=6)
    cluster.set_clock(node.name, ClockSetting())
    wait_for("the clock to come back", lambda: abs(skew_s()) < 5, timeout_s=6)


def test_logs_are_collected(cluster: Cluster, tmp_path: Path) -> None:
    cluster.collect_logs(tmp_path)
    for node in cluster.nodes():
        log = tmp_path / node.name / "raftkv.log"
        assert log.exists() and log.stat().st_size > 0
