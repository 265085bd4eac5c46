"""In-process fakes for runner tests: a cluster that records what was done to it, and a
key-value database living in a dict (linearizable, or stale on purpose)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cluster.base import ClockSetting, ClusterSpec, Grudge, Node, PacketFault
from harness.client import DefiniteError


class FakeCluster:
    def __init__(self, spec: ClusterSpec) -> None:
        self.name = spec.name
        self.spec = spec
        self._nodes = [Node(f"n{i}", i, f"10.9.9.{i}") for i in range(1, spec.nodes + 1)]
        self.calls: list[str] = []
        self.faults: set[str] = set()

    def nodes(self) -> Sequence[Node]:
        return self._nodes

    def up(self) -> None:
        self.calls.append("up")

    def down(self) -> None:
        self.calls.append("down")

    def start(self, node: str) -> None:
        self.faults.discard(f"kill {node}")

    def kill(self, node: str) -> None:
        self.faults.add(f"kill {node}")

    def stop(self, node: str) -> None:
        self.faults.add(f"kill {node}")

    def pause(self, node: str) -> None:
        self.faults.add(f"pause {node}")

    def resume(self, node: str) -> None:
        self.faults.discard(f"pause {node}")

    def is_running(self, node: str) -> bool:
        return f"kill {node}" not in self.faults

    def partition(self, grudge: Grudge) -> list[str]:
        self.faults.add("partition")
        return [f"{a} drops {sorted(b)}" for a, b in grudge.items()]

    def heal_network(self) -> list[str]:
        self.faults.discard("partition")
        return []

    def set_packet_fault(self, node: str, fault: PacketFault) -> list[str]:
        return []

    def clear_packet_faults(self) -> list[str]:
        return []

    def set_clock(self, node: str, clock: ClockSetting) -> None:
        pass

    def heal(self) -> list[str]:
        self.calls.append("heal")
        healed = sorted(self.faults)
        self.faults.clear()
        return healed

    def collect_logs(self, dest: Path) -> None:
        self.calls.append("collect_logs")
        for n in self._nodes:
            (dest / n.name).mkdir(parents=True, exist_ok=True)
            (dest / n.name / "raftkv.log").write_text("fake log\n")


class FakeStore:
    """The shared state: one dict, and a lagging copy that stale reads see."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: dict[str, str] = {}
        self.lagging: dict[str, str] = {}
        self.writes = 0


class FakeSession:
    def __init__(self, store: FakeStore, stale: bool, fail_every: int = 0) -> None:
        self.store, self.stale, self.fail_every = store, stale, fail_every
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            raise DefiniteError("not_leader")

    def _written(self) -> None:
        s = self.store
        s.writes += 1
        if s.writes % 5 == 0:  # the lagging copy catches up now and then
            s.lagging = dict(s.data)

    def get(self, key: str) -> str | None:
        self._maybe_fail()
        with self.store.lock:
            return (self.store.lagging if self.stale else self.store.data).get(key)

    def put(self, key: str, value: str) -> None:
        self._maybe_fail()
        with self.store.lock:
            self.store.data[key] = value
            self._written()

    def cas(self, key: str, old: str | None, new: str) -> bool:
        self._maybe_fail()
        with self.store.lock:
            if self.store.data.get(key) != old:
                return False
            self.store.data[key] = new
            self._written()
            return True

    def append(self, key: str, value: str) -> None:
        self._maybe_fail()
        with self.store.lock:
            self.store.data[key] = self.store.data.get(key, "") + value
            self._written()

    def txn(self, ops: Sequence[list[Any]]) -> list[list[Any]]:
        self._maybe_fail()
        out = []
        with self.store.lock:
            for f, k, v in ops:
                if f == "read":
                    out.append([f, k, self.store.data.get(k)])
                elif f == "write":
                    self.store.data[k] = v
                    out.append([f, k, v])
                else:
                    self.store.data[k] = self.store.data.get(k, "") + v
                    out.append([f, k, v])
            self._written()
        return out

    def close(self) -> None:
        pass


class FakeDatabase:
    name = "fake"

    def __init__(self, *, stale: bool = False, fail_every: int = 0) -> None:
        self.store = FakeStore()
        self.stale, self.fail_every = stale, fail_every
        self.clusters: list[FakeCluster] = []

    def cluster(self, backend: str, spec: ClusterSpec) -> FakeCluster:
        c = FakeCluster(spec)
        self.clusters.append(c)
        return c

    def connect(self, node: Node, nodes: Sequence[Node], *, read_mode: str | None,
                timeout_s: float) -> FakeSession:
        return FakeSession(self.store, self.stale or read_mode == "stale", self.fail_every)

    def status(self, node: Node, timeout_s: float) -> Mapping[str, Any]:
        return {"role": "leader" if node.id == 1 else "follower"}
