"""Composition: one nemesis made of several, each owning its own ``f`` values.

An op goes to the nemesis that owns its ``f``; two nemeses may not own the same ``f``.
``setup`` and ``teardown`` reach every part; ``teardown`` tries every part even when
one fails (healing must not stop half-way) and then raises what went wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from cluster.base import Cluster
from harness.op import Op
from nemesis.base import Nemesis
from nemesis.completion import one_line


class ComposedNemesis:
    """Routes each op by its ``f`` to the one nemesis that owns it."""

    def __init__(self, nemeses: Sequence[Nemesis]) -> None:
        self._parts = tuple(nemeses)
        self._owner: dict[str, Nemesis] = {}
        for part in self._parts:
            for f in part.fs():
                if f in self._owner:
                    raise ValueError(f"two nemeses own f={f!r}: {type(self._owner[f]).__name__} "
                                     f"and {type(part).__name__}")
                self._owner[f] = part

    def fs(self) -> frozenset[str]:
        return frozenset(self._owner)

    def setup(self, cluster: Cluster) -> None:
        for part in self._parts:
            part.setup(cluster)

    def invoke(self, op: Op) -> Op:
        owner = self._owner.get(op.f)
        if owner is None:
            raise ValueError(f"no nemesis owns f={op.f!r}; this one handles "
                             f"{', '.join(sorted(self._owner)) or 'nothing'}")
        return owner.invoke(op)

    def teardown(self) -> None:
        problems: list[Exception] = []
        for part in self._parts:
            try:
                part.teardown()
            except Exception as e:
                problems.append(e)
        if problems:
            raise RuntimeError("nemesis teardown failed: "
                               + "; ".join(one_line(e) for e in problems)) from problems[0]


def compose(nemeses: Sequence[Nemesis]) -> ComposedNemesis:
    """One nemesis made of ``nemeses`` (see module docstring)."""
    return ComposedNemesis(nemeses)
