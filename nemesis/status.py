"""What a nemesis learns from the nodes themselves: status, leaders, membership.

Faults that aim at the current leader (``primaries``), clock checks and membership
changes need the nodes' own view, which raftkv serves over HTTP (``GET /status``,
``POST /admin/add``, ``POST /admin/remove``). :class:`NodeAPI` is that small surface,
so nemeses are tested against a fake; :class:`HttpNodeAPI` is the real one. The helpers
below are pure functions of the statuses collected.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from cluster.base import Node
from cluster.raftkv_api import RaftkvAPI

Status = Mapping[str, Any]


class NodeAPI(Protocol):
    """The calls a nemesis makes to the nodes; any failure raises."""

    def status(self, node: Node) -> Status: ...

    def add_member(self, via: Node, member: Node) -> None:
        """Ask ``via`` (the leader) to add ``member`` to the Raft group."""

    def remove_member(self, via: Node, member_id: int) -> None:
        """Ask ``via`` (the leader) to remove raft id ``member_id`` from the Raft group."""


class HttpNodeAPI:
    """raftkv's HTTP API, a fresh short-lived connection per call."""

    def __init__(self, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s

    def _api(self, node: Node) -> RaftkvAPI:
        return RaftkvAPI(node.client_addr, timeout=self.timeout_s)

    def status(self, node: Node) -> Status:
        api = self._api(node)
        try:
            return api.status()
        finally:
            api.close()

    def add_member(self, via: Node, member: Node) -> None:
        api = self._api(via)
        try:
            api.add_node(member.id, member.raft_addr, member.client_addr)
        finally:
            api.close()

    def remove_member(self, via: Node, member_id: int) -> None:
        api = self._api(via)
        try:
            api.remove_node(member_id)
        finally:
            api.close()


def poll_statuses(api: NodeAPI, nodes: Sequence[Node]) -> dict[str, Status | None]:
    """Every node's status, asked in parallel; None for a node that did not answer."""
    return {name: status for name, (status, _, _) in _timed_statuses(api, nodes).items()}


def clock_offsets(api: NodeAPI, nodes: Sequence[Node]) -> dict[str, int | None]:
    """Each node's clock (``clock_ms`` in its status) minus this host's wall clock, in ms,
    taking our clock halfway through the round trip; None for a node that did not answer."""
    offsets: dict[str, int | None] = {}
    for name, (status, before, after) in _timed_statuses(api, nodes).items():
        clock_ms = None if status is None else status.get("clock_ms")
        offsets[name] = (
            None if not isinstance(clock_ms, int | float)
            else round(clock_ms - (before + after) / 2 * 1000)
        )
    return offsets


def _timed_statuses(
    api: NodeAPI, nodes: Sequence[Node]
) -> dict[str, tuple[Status | None, float, float]]:
    """Each node's status (None if it did not answer) with the wall-clock seconds at which
    the question was sent and the answer arrived; all nodes asked in parallel."""

    def ask(node: Node) -> tuple[Status | None, float, float]:
        before = time.time()
        try:
            status: Status | None = api.status(node)
        except Exception:
            status = None
        return status, before, time.time()

    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        answers = list(pool.map(ask, nodes))
    return {node.name: answer for node, answer in zip(nodes, answers, strict=True)}


def leaders(statuses: Mapping[str, Status | None]) -> list[str]:
    """Every node that claims to be leader (several, when an old one has not noticed)."""
    return [name for name, s in statuses.items() if s is not None and s.get("role") == "leader"]


def current_leader(statuses: Mapping[str, Status | None]) -> str | None:
    """The leader of the highest term among those claiming leadership, if any."""
    claims = [
        (int(s.get("term") or 0), name)
        for name, s in statuses.items()
        if s is not None and s.get("role") == "leader"
    ]
    return max(claims)[1] if claims else None


def member_ids(status: Status) -> frozenset[int]:
    """The raft ids in a node's configuration (``voters``, else ``members``)."""
    ids = status.get("voters") or status.get("members") or ()
    out: set[int] = set()
    for entry in ids:
        raw: Any = entry.get("id") if isinstance(entry, Mapping) else entry
        try:
            out.add(int(raw))
        except (TypeError, ValueError):
            continue
    return frozenset(out)
