"""Waiting until nodes are healthy: each answers ``GET /status`` and they agree on a leader.

Used by every backend's ``up`` (and by tests after a restart). The clock and the status
probe are injectable so the waiting logic is tested without a cluster. When time runs
out the error names the node that is not ready, why, and its last log lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cluster.base import Node
from cluster.raftkv_api import RaftkvAPI
from harness.client import DefiniteError, IndeterminateError
from harness.errors import EnvironmentProblem

Status = dict[str, Any]
StatusProbe = Callable[[Node], Status]
LogTail = Callable[[str], Sequence[str]]
POLL_S = 0.1


def probe_status(node: Node, timeout: float = 1.0) -> Status:
    """One node's ``/status``; raises DefiniteError/IndeterminateError when it does not answer."""
    api = RaftkvAPI(node.client_addr, timeout=timeout)
    try:
        return api.status()
    finally:
        api.close()


def leader_problem(statuses: Mapping[str, Status]) -> str | None:
    """None when every node names the same leader, else what is wrong, by node."""
    leaders = {name: s.get("leader") or None for name, s in statuses.items()}
    without = sorted(name for name, leader in leaders.items() if leader is None)
    if without:
        return f"no leader known to {', '.join(without)}"
    if len(set(leaders.values())) > 1:
        return "nodes disagree on the leader: " + ", ".join(
            f"{name}->{leader}" for name, leader in sorted(leaders.items()))
    return None


def wait_healthy(nodes: Sequence[Node], timeout_s: float, *, log_tail: LogTail,
                 is_running: Callable[[str], bool] | None = None,
                 require_leader: bool = True, probe: StatusProbe = probe_status,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 hint: str = "") -> dict[str, Status]:
    """Poll until every node answers (and, by default, all name one leader); their statuses.

    Raises EnvironmentProblem naming the first node that never answered (at once when
    ``is_running`` says its process is gone), with its last error and log lines, or
    saying that no leader was agreed on.
    """
    deadline = clock() + timeout_s
    statuses: dict[str, Status] = {}
    errors: dict[str, str] = {}
    while True:
        for node in nodes:
            if node.name in statuses:
                continue
            try:
                statuses[node.name] = probe(node)
                errors.pop(node.name, None)
            except (DefiniteError, IndeterminateError, OSError) as e:
                errors[node.name] = str(e)
                if is_running is not None and not is_running(node.name):
                    raise EnvironmentProblem(
                        f"node {node.name} ({node.client_addr}) exited before it became "
                        f"healthy; last log lines: {_tail(log_tail, node.name)}"
                        f"{f'; {hint}' if hint else ''}") from None
        if len(statuses) == len(nodes):
            problem = leader_problem(statuses) if require_leader else None
            if problem is None:
                return statuses
        if clock() >= deadline:
            break
        if len(statuses) == len(nodes):  # all answer: re-ask for a settled leader
            statuses = {}
        sleep(POLL_S)
    suffix = f"; {hint}" if hint else ""
    missing = [n for n in nodes if n.name not in statuses]
    if missing:
        node = missing[0]
        raise EnvironmentProblem(
            f"node {node.name} ({node.client_addr}) never became healthy within "
            f"{timeout_s:g}s: {errors.get(node.name, 'no answer')}; last log lines: "
            f"{_tail(log_tail, node.name)}{suffix}")
    raise EnvironmentProblem(f"no leader elected within {timeout_s:g}s: "
                             f"{leader_problem(statuses)}{suffix}")


def _tail(log_tail: LogTail, node: str) -> str:
    return " | ".join(line.strip() for line in log_tail(node) if line.strip()) or "(none)"
