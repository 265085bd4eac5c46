"""Process faults: kill and restart, pause and resume, on target nodes.

``kill`` SIGKILLs the target nodes' processes and ``start`` starts again every node
that is not running (or the nodes named); ``pause`` freezes targets (SIGSTOP, or
``docker pause``, whatever the backend does) and ``resume`` thaws every node this
nemesis paused (or the nodes named). Targets are specs resolved at invoke time (see
``nemesis.targets``); each completion lists the nodes it acted on, and per node why
it could not.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from harness.op import Op
from nemesis.completion import apply_each, completed, refused
from nemesis.resolve import ClusterNemesis
from nemesis.status import NodeAPI

KILL_FS: Final = frozenset({"kill", "start"})
PAUSE_FS: Final = frozenset({"pause", "resume"})


class KillNemesis(ClusterNemesis):
    """``kill`` target nodes (SIGKILL); ``start`` brings stopped nodes back."""

    FS = KILL_FS

    def invoke(self, op: Op) -> Op:
        cluster = self.cluster
        if op.f == "kill":
            return _act(self, op, "one", cluster.kill, on_running=True)[0]
        if op.value in (None, "all"):
            return _each(op, "all", self._stopped(), cluster.start)[0]
        return _act(self, op, "all", cluster.start, on_running=False)[0]

    def _stopped(self) -> list[str]:
        return [n for n in self.node_names() if not self.cluster.is_running(n)]

    def teardown(self) -> None:
        if self.is_set_up:
            apply_each(self._stopped(), self.cluster.start)


class PauseNemesis(ClusterNemesis):
    """``pause`` target nodes; ``resume`` thaws the nodes this nemesis paused."""

    FS = PAUSE_FS

    def __init__(self, rng: random.Random, api: NodeAPI | None = None) -> None:
        super().__init__(rng, api)
        self._paused: set[str] = set()

    def invoke(self, op: Op) -> Op:
        cluster = self.cluster
        if op.f == "pause":
            completion, paused = _act(self, op, "one", cluster.pause, on_running=True)
            self._paused.update(paused)
            return completion
        if op.value in (None, "all"):
            # a paused node killed since is not paused any more: nothing to resume there
            self._paused = {n for n in self._paused if cluster.is_running(n)}
            paused = [n for n in self.node_names() if n in self._paused]
            return _each(op, "all", paused, self._resume_one)[0]
        return _act(self, op, "all", self._resume_one, on_running=True)[0]

    def _resume_one(self, node: str) -> None:
        self._paused.discard(node)
        self.cluster.resume(node)

    def teardown(self) -> None:
        if self.is_set_up:
            apply_each(sorted(self._paused), self._resume_one)


def _act(nemesis: ClusterNemesis, op: Op, default: Any, action: Callable[[str], None], *,
         on_running: bool) -> tuple[Op, list[str]]:
    """Resolve the op's targets and apply ``action`` to those that are running (or, with
    ``on_running=False``, stopped); the others are listed as skipped, with why."""
    spec = op.value if op.value is not None else default
    try:
        nodes = nemesis.targets(spec)
    except ValueError as e:
        return refused(op, str(e)), []
    if not nodes:
        reason = "no target: no node claims leadership"
        return refused(op, reason, {"targets": spec, "nodes": []}), []
    why = "not running" if on_running else "already running"
    skipped = {n: why for n in nodes if nemesis.cluster.is_running(n) != on_running}
    if len(skipped) == len(nodes):
        return refused(op, f"no target: {', '.join(nodes)} {why}",
                       {"targets": spec, "nodes": [], "skipped": skipped}), []
    return _each(op, spec, [n for n in nodes if n not in skipped], action, skipped)


def _each(op: Op, spec: Any, nodes: Sequence[str], action: Callable[[str], None],
          skipped: Mapping[str, str] | None = None) -> tuple[Op, list[str]]:
    """Apply ``action`` to chosen nodes: the completion, and the nodes it succeeded on."""
    applied = apply_each(nodes, action)
    value: dict[str, Any] = {"targets": spec, "nodes": applied.done}
    if skipped:
        value["skipped"] = dict(skipped)
    done = completed(op, value, applied.errors, anything_done=applied.anything_done)
    return done, applied.done
