"""Database adapters: the small interface between the harness and a key-value store.

A :class:`Database` knows two things: how to bring up a cluster of its nodes on a
backend (``cluster``), and how one worker talks to one node (``connect``, giving a
:class:`KVSession`). Workloads speak only :class:`KVSession` (get, put, cas, append,
txn), so every built-in workload runs against any adapter. A session raises
:class:`harness.client.DefiniteError` when an operation certainly did not happen and
anything else when the outcome is unknown.

Optional abilities are separate protocols, as in Jepsen: :class:`NodeStatus` lets the
live progress show each node's role.

The built-in adapter, :class:`Raftkv`, maps sessions onto ``cluster/raftkv_api.py``:
a ``not_leader`` answer is followed once to the leader it names (a ``not_leader`` means
the node did not take the request, so it is a definite failure if the leader also
refuses). Adapters register under the ``raft_chaos.databases`` entry point group (see
docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from cluster.base import Cluster, ClusterSpec, Node
from cluster.raftkv_api import NotLeader, RaftkvAPI

TxnMicroOp = list[Any]
"""``["read", key, None]``, ``["write", key, value]`` or ``["append", key, value]``."""


class KVSession(Protocol):
    """One worker's connection to one node."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...

    def cas(self, key: str, old: str | None, new: str) -> bool:
        """Set ``key`` to ``new`` if it holds ``old``; True when applied."""
        ...

    def append(self, key: str, value: str) -> None: ...

    def txn(self, ops: Sequence[TxnMicroOp]) -> list[TxnMicroOp]:
        """Apply micro-ops atomically, in order; reads come back with their values."""
        ...

    def close(self) -> None: ...


class Database(Protocol):
    """A key-value store the harness can test."""

    name: str

    def cluster(self, backend: str, spec: ClusterSpec) -> Cluster:
        """A (not yet started) cluster of ``spec.nodes`` nodes on ``backend``."""
        ...

    def connect(self, node: Node, nodes: Sequence[Node], *, read_mode: str | None,
                timeout_s: float) -> KVSession:
        """A session with ``node`` (``nodes`` is the whole cluster, to follow redirects)."""
        ...


@runtime_checkable
class NodeStatus(Protocol):
    """Optional: what a node says about itself (at least ``"role"``)."""

    def status(self, node: Node, timeout_s: float) -> Mapping[str, Any]: ...


class RaftkvSession:
    """A :class:`KVSession` on raftkv's HTTP API, following ``not_leader`` once."""

    def __init__(self, node: Node, nodes: Sequence[Node], read_mode: str | None,
                 timeout_s: float) -> None:
        self._by_id = {n.id: n for n in nodes}
        self._by_addr = {n.client_addr: n for n in nodes}
        self._timeout_s = timeout_s
        self._read_mode = read_mode
        self._home = RaftkvAPI(node.client_addr, timeout_s)
        self._others: dict[str, RaftkvAPI] = {}

    def _leader(self, e: NotLeader) -> RaftkvAPI:
        node = self._by_id.get(e.leader) if e.leader is not None else None
        if node is None and e.leader_addr is not None:
            node = self._by_addr.get(e.leader_addr)
        if node is None or node.client_addr == self._home.addr:
            raise e
        api = self._others.get(node.client_addr)
        if api is None:
            api = self._others[node.client_addr] = RaftkvAPI(node.client_addr, self._timeout_s)
        return api

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._home, method)(*args, **kwargs)
        except NotLeader as e:
            return getattr(self._leader(e), method)(*args, **kwargs)

    def get(self, key: str) -> str | None:
        value: str | None = self._call("get", key, read=self._read_mode)
        return value

    def put(self, key: str, value: str) -> None:
        self._call("put", key, value)

    def cas(self, key: str, old: str | None, new: str) -> bool:
        return bool(self._call("cas", key, old, new))

    def append(self, key: str, value: str) -> None:
        self._call("append", key, value)

    def txn(self, ops: Sequence[TxnMicroOp]) -> list[TxnMicroOp]:
        result: list[TxnMicroOp] = self._call("txn", [list(o) for o in ops],
                                              read=self._read_mode)
        return result

    def close(self) -> None:
        self._home.close()
        for api in self._others.values():
            api.close()


class Raftkv:
    """The built-in adapter for raftkv, the project's Raft/RocksDB node."""

    name = "raftkv"

    def cluster(self, backend: str, spec: ClusterSpec) -> Cluster:
        from cluster.backends import make_cluster

        return make_cluster(backend, spec)

    def connect(self, node: Node, nodes: Sequence[Node], *, read_mode: str | None,
                timeout_s: float) -> KVSession:
        return RaftkvSession(node, nodes, read_mode, timeout_s)

    def status(self, node: Node, timeout_s: float) -> Mapping[str, Any]:
        api = RaftkvAPI(node.client_addr, timeout_s)
        try:
            return api.status()
        finally:
            api.close()


def raftkv() -> Database:
    """Entry point for the built-in raftkv adapter."""
    return Raftkv()
