"""Real faults on real nodes, through the nemeses, on every backend that can run here.

Each fault is applied by a nemesis op and then observed from outside: an isolated node
cannot reach its peers; a killed process is gone and, restarted, rejoins; a paused node
is silent; packet delay shows in round trips; a clock offset shows in status (and
reaches raftkv's ticks and lease); a removed member is gone from the configuration,
and a removed leader hands its leadership to the rest.
After every test, the host is searched for leftovers the way ``chaos heal`` searches it
(no harness memory): nothing may be left. ``chaos heal`` itself is checked the same way
(and a run interrupted in the middle of a partition in test_heal_interrupted.py).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from cluster.backends import Enterable, make_cluster, slug_of
from cluster.base import Cluster, ClusterSpec, Node, PacketFault
from cluster.raftkv_api import RaftkvAPI
from harness.op import Op
from nemesis.base import Nemesis
from nemesis.leftovers import faults_at, find_sites
from nemesis.packages import build_package
from nemesis.status import HttpNodeAPI, current_leader, poll_statuses

T = TypeVar("T")

BACKENDS = [
    pytest.param("docker", marks=[pytest.mark.docker, pytest.mark.slow], id="docker"),
    pytest.param("local", marks=[pytest.mark.netns, pytest.mark.slow], id="local"),
]
CONNECT = ("import socket, sys, time; t = time.monotonic(); "
           "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close(); "
           "print((time.monotonic() - t) * 1000)")
API = HttpNodeAPI(timeout_s=1.0)


@dataclass
class Real:
    backend: str
    cluster: Cluster
    slug: str
    nemesis: Nemesis

    def node(self, name: str) -> Node:
        return next(n for n in self.cluster.nodes() if n.name == name)

    def do(self, f: str, value: Any = None) -> Op:
        done = self.nemesis.invoke(Op(process="nemesis", type="invoke", f=f, value=value))
        assert done.f == f and done.process == "nemesis"
        return done


def leftovers(slug: str) -> list[str]:
    """Every fault found on this host for cluster ``slug``, as ``chaos heal`` finds them."""
    sites, _ = find_sites(slug)
    return [line for site in sites for line in faults_at(site)]


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


def status(node: Node) -> dict[str, Any] | None:
    try:
        return dict(API.status(node))
    except Exception:
        return None


def leader_of(real: Real, among: list[str] | None = None) -> str | None:
    nodes = [n for n in real.cluster.nodes() if among is None or n.name in among]
    return current_leader(poll_statuses(API, nodes))


def connect_ms(real: Real, src: str, dst: str) -> float | None:
    """A TCP handshake from inside ``src``'s namespace to ``dst``'s raft port (ms)."""
    cluster = real.cluster
    assert isinstance(cluster, Enterable)
    peer = real.node(dst)
    done = cluster.exec_in(src).run([sys.executable, "-c", CONNECT, peer.ip,
                                     str(peer.raft_port)])
    return float(done.stdout) if done.returncode == 0 else None


@pytest.fixture(scope="module", params=BACKENDS)
def real(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Real]:
    backend = request.param
    name = f"nemreal-{backend}-{os.getpid()}"
    # lease reads without the backward-jump guard, so a clock bump shows in the lease
    spec = ClusterSpec(name=name, nodes=3, run_dir=tmp_path_factory.mktemp(backend),
                       read_mode="lease", unsafe=("lease-ignore-drift",))
    cluster = make_cluster(backend, spec)
    cluster.up()
    package = build_package(["partition", "kill", "pause", "clock", "packet", "membership"],
                            nodes=[n.name for n in cluster.nodes()], seed=42)
    package.nemesis.setup(cluster)
    try:
        yield Real(backend, cluster, slug_of(name), package.nemesis)
    finally:
        try:
            package.teardown()
            cluster.heal()
        finally:
            cluster.down()


@pytest.fixture(autouse=True)
def healed_after(real: Real) -> Iterator[None]:
    """Each test starts with a healthy cluster and must leave nothing behind."""
    wait_for("a leader", lambda: leader_of(real))
    yield
    real.nemesis.teardown()
    assert leftovers(real.slug) == []
    wait_for("every node to answer", lambda: all(status(n) for n in real.cluster.nodes()))


def test_an_isolated_node_cannot_reach_its_peers(real: Real) -> None:
    done = real.do("start-partition", ["n3"])
    assert done.type == "ok", done.error
    assert done.value["grudge"] == {"n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2"]}
    assert any("n3 drops packets from n1" in rule for rule in done.value["rules"])
    assert connect_ms(real, "n3", "n1") is None and connect_ms(real, "n1", "n3") is None
    assert connect_ms(real, "n1", "n2") is not None, "the majority still talks"
    stopped = real.do("stop-partition")
    assert stopped.type == "ok" and stopped.value["removed"]
    assert connect_ms(real, "n3", "n1") is not None


def test_isolating_the_primary_moves_leadership(real: Real) -> None:
    old = leader_of(real)
    done = real.do("start-partition", "primaries")
    assert done.type == "ok"
    assert set(done.value["grudge"][old]) == {"n1", "n2", "n3"} - {old}
    rest = [n for n in ("n1", "n2", "n3") if n != old]
    new = wait_for("a new leader among the majority", lambda: leader_of(real, rest))
    assert new != old
    real.do("stop-partition")


def test_a_killed_node_is_gone_and_rejoins_when_started(real: Real) -> None:
    done = real.do("kill", ["n2"])
    assert done.type == "ok" and done.value["nodes"] == ["n2"]
    assert not real.cluster.is_running("n2") and status(real.node("n2")) is None
    boss = real.node(wait_for("a leader", lambda: leader_of(real, ["n1", "n3"])))
    api = RaftkvAPI(boss.client_addr, timeout=5)
    try:
        api.put("while-n2-was-dead", "v")
    finally:
        api.close()
    target = (status(boss) or {})["commit"]
    started = real.do("start")
    assert started.type == "ok" and started.value["nodes"] == ["n2"]
    wait_for("n2 to rejoin and catch up",
             lambda: (s := status(real.node("n2"))) is not None and s["applied"] >= target
             and s["leader"] is not None)


def test_a_paused_node_is_silent_until_resumed(real: Real) -> None:
    done = real.do("pause", ["n1"])
    assert done.type == "ok" and done.value["nodes"] == ["n1"]
    assert real.cluster.is_running("n1"), "paused, not dead"
    assert status(real.node("n1")) is None
    resumed = real.do("resume")
    assert resumed.type == "ok" and resumed.value["nodes"] == ["n1"]
    wait_for("n1 to answer again", lambda: status(real.node("n1")), timeout_s=10)


def test_packet_delay_shows_in_round_trips(real: Real) -> None:
    def median_ms(src: str, dst: str) -> float:
        samples = [connect_ms(real, src, dst) for _ in range(5)]
        assert all(s is not None for s in samples)
        return statistics.median(s for s in samples if s is not None)

    before = median_ms("n1", "n2")
    done = real.do("start-packet", {"targets": ["n1"], "fault": {"delay_ms": 80}})
    assert done.type == "ok", done.error
    assert "n1" in done.value["nodes"] and any("delay 80ms" in r for r in done.value["rules"])
    during = median_ms("n1", "n2")
    assert during >= before + 60, (before, during)
    assert real.do("stop-packet").type == "ok"
    assert median_ms("n1", "n2") < before + 40


def test_loss_and_rate_work_and_a_kind_the_kernel_lacks_says_why(real: Real) -> None:
    loss = real.do("start-packet", {"targets": ["n2"], "kind": "loss"})
    assert loss.type == "ok" and "iptables statistic" in " ".join(loss.value["rules"])
    assert any("RAFTCHAOS-OUT" in line for line in leftovers(real.slug))
    rate = real.do("start-packet", {"targets": ["n2"], "kind": "rate"})
    assert rate.type == "ok" and rate.value["replaced"]
    assert any("tbf qdisc" in line for line in leftovers(real.slug))
    corrupt = real.do("start-packet", {"targets": ["n2"], "kind": "corrupt"})
    if corrupt.type != "ok":  # a kernel without sch_netem: never silently
        assert corrupt.type == "fail" and "sch_netem" in corrupt.error
        assert not any("n2" in line for line in leftovers(real.slug))
    assert real.do("stop-packet").type == "ok"


def test_a_clock_offset_shows_in_status(real: Real) -> None:
    done = real.do("bump-clock", {"targets": ["n2"], "delta_ms": 5000})
    assert done.type == "ok"
    offsets = done.value["offsets_ms"]
    assert abs(offsets["n2"] - 5000) < 500 and abs(offsets["n1"]) < 500, offsets
    s = status(real.node("n2"))
    assert s is not None and abs(s["clock_ms"] - time.time() * 1000 - 5000) < 500
    reset = real.do("reset-clock")
    assert reset.type == "ok" and all(abs(o) < 500 for o in reset.value["offsets_ms"].values())


def test_a_backward_clock_bump_reaches_the_lease(real: Real) -> None:
    """Turn the leader's clock back 10 s while lease reads keep its lease granted: the
    lease, counted on the faked monotonic clock (and, on this cluster, not guarded
    against backward jumps), then outlives real time."""
    old = leader_of(real)
    assert old is not None
    boss = real.node(old)
    stop = threading.Event()

    def lease_reads() -> None:
        api = RaftkvAPI(boss.client_addr, timeout=2)
        try:
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    api.get("lease-probe", read="lease")
                time.sleep(0.02)
        finally:
            api.close()

    reader = threading.Thread(target=lease_reads, daemon=True)
    reader.start()
    longest = 0
    try:
        wait_for("a lease", lambda: (status(boss) or {}).get("lease_remaining_ms"))
        assert real.do("bump-clock", {"targets": [old], "delta_ms": -10_000}).type == "ok"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and longest <= 5000:
            longest = max(longest, (status(boss) or {}).get("lease_remaining_ms") or 0)
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join()
    length = (status(boss) or {}).get("lease_length_ms")
    assert length and longest > 5000 > 2 * length, (longest, length)
    real.do("reset-clock")


def test_a_slow_clock_reaches_the_raft_ticks(real: Real) -> None:
    """Run the leader's clock at a twentieth of real speed: its ticks (and heartbeats)
    slow down with it, the others stop hearing from it and elect a new leader."""
    old = leader_of(real)
    assert old is not None
    term = (status(real.node(old)) or {})["term"]
    done = real.do("rate-clock", {"targets": [old], "rate": 0.05})
    assert done.type == "ok" and done.value["rate"] == {old: 0.05}
    rest = [n for n in ("n1", "n2", "n3") if n != old]
    new = wait_for("a new leader", lambda: leader_of(real, rest), timeout_s=20)
    assert (status(real.node(new)) or {})["term"] > term
    real.do("reset-clock")


def test_a_removed_member_is_gone_from_the_configuration(real: Real) -> None:
    done = real.do("remove-node", ["n3"])
    assert done.type == "ok", done.error
    assert done.value["members"] == ["n1", "n2"]
    boss = wait_for("a leader", lambda: leader_of(real, ["n1", "n2"]))
    assert (status(real.node(boss)) or {})["voters"] == [1, 2]
    again = real.do("remove-node", "one")
    assert again.type == "fail" and "fewer than 2" in again.error, "never below a quorum"
    added = real.do("add-node")
    assert added.type == "ok" and added.value["nodes"] == ["n3"]
    wait_for("n3 back in every configuration", lambda: all(
        (s := status(n)) is not None and s["voters"] == [1, 2, 3]
        for n in real.cluster.nodes()))


def test_removing_the_leader_hands_leadership_to_the_rest(real: Real) -> None:
    """The leader applies its own removal and keeps running: the remaining members must
    still get a leader that takes writes (raftkv hands leadership over)."""
    old = leader_of(real)
    done = real.do("remove-node", "primaries")
    assert done.type == "ok", done.error
    assert done.value["nodes"] == [old] and old not in done.value["members"]
    rest = [n for n in ("n1", "n2", "n3") if n != old]
    new = wait_for("a leader among the remaining members", lambda: leader_of(real, rest),
                   timeout_s=10)
    api = RaftkvAPI(real.node(new).client_addr, timeout=5)
    try:
        api.put("after-the-leader-left", "v")
    finally:
        api.close()
    assert real.do("add-node").type == "ok"
    wait_for(f"{old} back in every configuration", lambda: all(
        (s := status(n)) is not None and s["voters"] == [1, 2, 3]
        for n in real.cluster.nodes()))


def test_chaos_heal_removes_what_a_dead_harness_left(real: Real) -> None:
    """Faults applied straight through the backend, as a harness would before dying;
    ``chaos heal`` must find them all from the host alone."""
    c = real.cluster
    c.partition({"n1": {"n2"}, "n2": {"n1"}})
    c.set_packet_fault("n2", PacketFault(delay_ms=20))
    c.set_packet_fault("n3", PacketFault(rate_kbit=512))
    c.pause("n3")
    from cluster.base import ClockSetting

    c.set_clock("n1", ClockSetting(offset_ms=-3000))
    found = leftovers(real.slug)
    for expected in ("n1: iptables chain RAFTCHAOS-IN", "n2: packet delayer",
                     "n3: tbf qdisc", "n3: paused", "n1: clock -3.000"):
        assert any(expected in line for line in found), (expected, found)
    heal = [sys.executable, "-m", "harness.cli", "heal", "--name", f"nemreal-{real.backend}-"
            f"{os.getpid()}", "--backend", real.backend]
    first = subprocess.run(heal, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    for expected in ("RAFTCHAOS-IN removed", "packet delayer", "tbf qdisc removed",
                     "n3: resumed", "n1: clock -3.000 reset to real time"):
        assert expected in first.stdout, (expected, first.stdout)
    assert leftovers(real.slug) == []
    second = subprocess.run(heal, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 0 and second.stdout.strip() == "nothing to heal"
