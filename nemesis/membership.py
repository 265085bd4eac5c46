"""Membership changes: remove a node from the Raft group, and add it back.

Both go to the current leader through raftkv's admin API (``/admin/remove {"id"}``,
``/admin/add {"id", "raft_addr", "client_addr"}``). The view (who is a member) is read
from the leader's status each time, not remembered, so it stays right whatever else
happened. ``remove-node`` (targets among the members; default ``one``) never leaves
fewer than ``min_members`` members (default: a majority of the cluster's nodes), nor a
configuration whose live members (those answering status) are not a quorum of it; a
node it will not remove is named with the reason. ``add-node`` (default: every node
missing from the configuration) adds nodes back.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Final

from cluster.base import Node
from harness.op import Op
from nemesis.completion import apply_each, completed, is_definite, one_line, refused
from nemesis.grudge import majority
from nemesis.resolve import ClusterNemesis
from nemesis.status import (
    NodeAPI,
    Status,
    current_leader,
    leaders,
    member_ids,
    poll_statuses,
)
from nemesis.targets import resolve_targets

MEMBERSHIP_FS: Final = frozenset({"remove-node", "add-node"})


class MembershipNemesis(ClusterNemesis):
    """Removes nodes from the Raft group and adds them back (see module docstring)."""

    FS = MEMBERSHIP_FS

    def __init__(self, rng: random.Random, api: NodeAPI | None = None,
                 min_members: int | None = None) -> None:
        super().__init__(rng, api)
        self._min_members = min_members

    def invoke(self, op: Op) -> Op:
        nodes = list(self.cluster.nodes())
        statuses = poll_statuses(self.api, nodes)
        leader = current_leader(statuses)
        if leader is None:
            return refused(op, "no leader answers its status: membership unknown")
        members = member_ids(statuses[leader] or {})
        if not members:
            return refused(op, f"leader {leader}'s status lists no members")
        names = [n.name for n in nodes]
        spec = op.value if op.value is not None else ("one" if op.f == "remove-node" else "all")
        if isinstance(spec, list | tuple) and (unknown := [s for s in spec if s not in names]):
            return refused(op, f"unknown node(s) {', '.join(map(str, unknown))}")
        if op.f == "remove-node":
            return self._remove(op, spec, nodes, statuses, leader, members)
        return self._add(op, spec, nodes, leader, members)

    def _remove(self, op: Op, spec: Any, nodes: Sequence[Node],
                statuses: Mapping[str, Status | None], leader: str,
                members: frozenset[int]) -> Op:
        by_name = {n.name: n for n in nodes}
        in_group = [n.name for n in nodes if n.id in members]
        if isinstance(spec, list | tuple):
            spec = [s for s in spec if s in in_group]
        try:
            chosen = resolve_targets(spec, in_group, self.rng, leaders(statuses))
        except ValueError as e:
            return refused(op, str(e))
        floor = self._min_members or majority(len(nodes))
        removed: list[str] = []
        skipped: dict[str, str] = {}
        errors: dict[str, str] = {}
        uncertain = False
        for name in chosen:
            if leader in removed:
                skipped[name] = f"the leader ({leader}) was removed first"
                continue
            after = members - {by_name[name].id}
            live = [n.name for n in nodes if n.id in after and statuses.get(n.name) is not None]
            if len(after) < floor:
                skipped[name] = f"would leave {len(after)} members, fewer than {floor}"
            elif len(live) < majority(len(after)):
                skipped[name] = (f"would leave {len(live)} live of {len(after)} members, "
                                 "not a quorum")
            else:
                try:
                    self.api.remove_member(by_name[leader], by_name[name].id)
                except Exception as e:
                    errors[name] = one_line(e)
                    uncertain = uncertain or not is_definite(e)
                else:
                    removed.append(name)
                    members = after
        value = {"targets": spec, "nodes": removed, "leader": leader,
                 "members": [n.name for n in nodes if n.id in members]}
        if skipped:
            value["skipped"] = skipped
        if not removed and not errors:
            reason = "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "no member to remove"
            return refused(op, f"nothing removed: {reason}", value)
        return completed(op, value, errors, anything_done=bool(removed) or uncertain)

    def _add(self, op: Op, spec: Any, nodes: Sequence[Node], leader: str,
             members: frozenset[int]) -> Op:
        by_name = {n.name: n for n in nodes}
        absent = [n.name for n in nodes if n.id not in members]
        if spec == "all":
            wanted = absent
        elif isinstance(spec, list | tuple):
            wanted = [s for s in spec if s in absent]
        else:
            return refused(op, f"add-node takes 'all' or a list of nodes, not {spec!r}")
        applied = apply_each(wanted, lambda name: self.api.add_member(by_name[leader],
                                                                       by_name[name]))
        members = members | {by_name[name].id for name in applied.done}
        value = {"targets": spec, "nodes": applied.done, "leader": leader,
                 "members": [n.name for n in nodes if n.id in members]}
        return completed(op, value, applied.errors, anything_done=applied.anything_done)

    def teardown(self) -> None:
        if self.is_set_up:
            self.invoke(Op(process="nemesis", type="invoke", f="add-node", value="all"))
