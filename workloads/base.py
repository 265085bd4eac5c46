"""What a workload is: one function from options to client + generator + checker.

A workload module exposes ``workload(options: WorkloadOptions) -> Workload`` and a
table of the options it accepts (:class:`Option`); it is registered under the
``raft_chaos.workloads`` entry point group (the built-ins too). The generator it returns
emits client ops only, unpaced: the runner adds the rate, the time limit and the
nemesis. ``final_generator`` runs after the cluster is healed (a set's final read).

Built-in workloads speak the database-neutral :class:`harness.db.KVSession`;
:class:`SessionClient` turns a function ``apply(session, invocation) -> completion`` into
a :class:`harness.client.Client`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkers.result import Checker
from cluster.base import Node
from harness.client import Client
from harness.db import KVSession
from harness.errors import InputError
from harness.generator import Generator
from harness.op import Op

Connect = Callable[[Node], KVSession]
"""Opens a session with a node (the runner binds the database, read mode and timeout)."""

Apply = Callable[[KVSession, Op], Op]


@dataclass(frozen=True, slots=True)
class Option:
    """One workload option: its default, its type and a line of documentation."""

    default: Any
    kind: type
    doc: str
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, workload: str, name: str, value: Any) -> Any:
        ok = isinstance(value, self.kind) and not (
            self.kind is not bool and isinstance(value, bool))
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise InputError(f"workload {workload!r}: option {name} must be "
                             f"{self.kind.__name__}, not {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise InputError(f"workload {workload!r}: option {name} must be >= {self.minimum:g},"
                             f" not {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise InputError(f"workload {workload!r}: option {name} must be <= {self.maximum:g},"
                             f" not {value!r}")
        return value


@dataclass(frozen=True, slots=True)
class WorkloadOptions:
    """What a workload is built from: the test's shape and its own option table."""

    concurrency: int = 5
    nodes: int = 3
    options: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, workload: str, table: Mapping[str, Option]) -> dict[str, Any]:
        """The options with defaults filled in; unknown names and bad values raise
        InputError naming the workload, the option and what it accepts."""
        unknown = sorted(set(self.options) - set(table))
        if unknown:
            known = ", ".join(sorted(table)) or "none"
            raise InputError(f"workload {workload!r} has no option {unknown[0]!r} "
                             f"(its options: {known})")
        return {name: opt.parse(workload, name, self.options[name]) if name in self.options
                else opt.default for name, opt in table.items()}


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    client: Callable[[Connect], Client]
    generator: Generator
    checker: Checker
    final_generator: Generator | None = None


class SessionClient:
    """A :class:`Client` that opens a :class:`KVSession` and applies ops to it."""

    def __init__(self, connect: Connect, apply: Apply) -> None:
        self._connect, self._apply = connect, apply
        self._session: KVSession | None = None

    def open(self, node: Node) -> None:
        self._session = self._connect(node)

    def invoke(self, op: Op) -> Op:
        if self._session is None:
            raise RuntimeError("client invoked before open()")
        return self._apply(self._session, op)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


_SAME: Any = object()


def ok(op: Op, value: Any = _SAME) -> Op:
    """The ``ok`` completion of ``op`` (with ``value``, when given)."""
    return Op(op.process, "ok", op.f, op.value if value is _SAME else value, op.time, op.index,
              op.key, op.node, op.error, op.extra)


def fail(op: Op, error: str) -> Op:
    """The ``fail`` completion of ``op``: it definitely did not happen."""
    return op.with_(type="fail", error=error)


def session_client(apply: Apply) -> Callable[[Connect], Client]:
    return lambda connect: SessionClient(connect, apply)
