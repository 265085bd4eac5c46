"""In-memory fakes for nemesis tests: a Cluster that records calls and keeps fault state,
and a NodeAPI whose statuses follow that state (leader, members, clocks).

Imported by the other ``test_nemesis_*`` modules; its own tests check the fakes behave
like the real things in the ways the nemeses rely on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from cluster.base import ClockSetting, Grudge, Node, PacketFault
from harness.errors import EnvironmentProblem


class FakeCluster:
    """A Cluster (cluster.base) of ``n`` nodes, all in memory. ``calls`` records every
    call as ``(method, *args)``; ``fail[method] = exc`` makes that method raise (for
    nodes in ``fail_nodes``, or all when that is empty); ``netem`` says whether the fake
    kernel has sch_netem."""

    def __init__(self, n: int = 5, *, netem: bool = False) -> None:
        self.name = "fake"
        self._nodes = [Node(f"n{i}", i, f"10.9.0.{10 + i}") for i in range(1, n + 1)]
        self.calls: list[tuple[Any, ...]] = []
        self.running = {x.name for x in self._nodes}
        self.paused: set[str] = set()
        self.grudge: dict[str, frozenset[str]] = {}
        self.packet: dict[str, PacketFault] = {}
        self.clocks: dict[str, ClockSetting] = {}
        self.netem = netem
        self.fail: dict[str, Exception] = {}
        self.fail_nodes: set[str] = set()

    def _call(self, method: str, *args: Any) -> None:
        self.calls.append((method, *args))
        exc = self.fail.get(method)
        if exc is not None and (not self.fail_nodes or (args and args[0] in self.fail_nodes)):
            raise exc

    def calls_to(self, method: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == method]

    def nodes(self) -> Sequence[Node]:
        return self._nodes

    def up(self) -> None:
        self._call("up")

    def down(self) -> None:
        self._call("down")

    def start(self, node: str) -> None:
        self._call("start", node)
        self.running.add(node)

    def kill(self, node: str) -> None:
        self._call("kill", node)
        self.running.discard(node)
        self.paused.discard(node)

    def stop(self, node: str) -> None:
        self.kill(node)

    def pause(self, node: str) -> None:
        self._call("pause", node)
        self.paused.add(node)

    def resume(self, node: str) -> None:
        self._call("resume", node)
        if node not in self.paused:
            raise RuntimeError(f"{node} is not paused")
        self.paused.discard(node)

    def is_running(self, node: str) -> bool:
        return node in self.running

    def partition(self, grudge: Grudge) -> list[str]:
        self._call("partition", {k: frozenset(v) for k, v in grudge.items()})
        self.grudge = {k: frozenset(v) for k, v in grudge.items() if v}
        return [f"{n} drops {', '.join(sorted(p))}" for n, p in sorted(self.grudge.items())]

    def heal_network(self) -> list[str]:
        self._call("heal_network")
        removed = [f"{n}: RAFTCHAOS-IN removed" for n in sorted(self.grudge)]
        self.grudge = {}
        return removed

    def set_packet_fault(self, node: str, fault: PacketFault) -> list[str]:
        self._call("set_packet_fault", node, fault)
        if not self.netem and (fault.duplicate_pct or fault.corrupt_pct):
            raise EnvironmentProblem("kernel lacks sch_netem")
        self.packet[node] = fault
        return [f"{node}: {fault.to_dict()}"]

    def clear_packet_faults(self) -> list[str]:
        self._call("clear_packet_faults")
        removed = [f"{n}: packet faults removed" for n in sorted(self.packet)]
        self.packet = {}
        return removed

    def set_clock(self, node: str, clock: ClockSetting) -> None:
        self._call("set_clock", node, clock)
        if clock.is_real:
            self.clocks.pop(node, None)
        else:
            self.clocks[node] = clock

    def heal(self) -> list[str]:
        done = self.heal_network() + self.clear_packet_faults()
        for node in sorted(self.paused):
            self.resume(node)
        self.clocks = {}
        return done

    def collect_logs(self, dest: Path) -> None:
        self._call("collect_logs", dest)

    def is_healed(self) -> bool:
        return not (self.grudge or self.packet or self.paused or self.clocks) and \
            self.running == {x.name for x in self._nodes}


class FakeNodeAPI:
    """Node statuses derived from a FakeCluster: ``leader`` leads (at ``term``), any other
    node in ``claims`` also thinks it leads (an old, cut-off leader); ``members`` are the
    raft ids in the configuration. A node that is killed or paused does not answer."""

    def __init__(self, cluster: FakeCluster, leader: str | None = "n1", term: int = 3) -> None:
        self.cluster = cluster
        self.leader = leader
        self.term = term
        self.claims: dict[str, int] = {}  # other nodes that claim leadership, with their term
        self.members = {n.id for n in cluster.nodes()}
        self.admin_calls: list[tuple[str, str, int]] = []
        self.admin_error: Exception | None = None

    def status(self, node: Node) -> Mapping[str, Any]:
        if node.name not in self.cluster.running or node.name in self.cluster.paused:
            raise TimeoutError(f"{node.name} does not answer")
        role, term = "follower", self.term
        if node.name == self.leader:
            role = "leader"
        elif node.name in self.claims:
            role, term = "leader", self.claims[node.name]
        clock = self.cluster.clocks.get(node.name, ClockSetting())
        return {"id": node.id, "role": role, "term": term, "voters": sorted(self.members),
                "clock_ms": int(time.time() * 1000) + clock.offset_ms}

    def add_member(self, via: Node, member: Node) -> None:
        self.admin_calls.append(("add", via.name, member.id))
        if self.admin_error is not None:
            raise self.admin_error
        self.members.add(member.id)

    def remove_member(self, via: Node, member_id: int) -> None:
        self.admin_calls.append(("remove", via.name, member_id))
        if self.admin_error is not None:
            raise self.admin_error
        self.members.discard(member_id)


def test_fake_cluster_keeps_fault_state_and_heals() -> None:
    c = FakeCluster(3)
    c.kill("n1")
    c.pause("n2")
    c.partition({"n3": {"n1"}})
    c.set_clock("n3", ClockSetting(offset_ms=5))
    assert not c.is_healed()
    c.start("n1")
    c.heal()
    assert c.is_healed()
    assert c.calls_to("kill") == [("n1",)]


def test_fake_api_answers_only_for_live_nodes() -> None:
    c = FakeCluster(3)
    api = FakeNodeAPI(c, leader="n2")
    assert api.status(c.nodes()[1])["role"] == "leader"
    c.pause("n2")
    with pytest.raises(TimeoutError):
        api.status(c.nodes()[1])
