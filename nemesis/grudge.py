"""Partitions as data: pure functions that build *grudges*.

A grudge maps each node to the set of nodes it refuses to hear from (the backend turns
each entry into drop rules on that node's inbound traffic; ``heal`` removes them all).
Most partitions are a split of the nodes into *components*: every node drops every node
outside its own component, so the grudge is symmetric (:func:`complete_grudge`).

The shapes, by the names a nemesis op uses (``GRUDGE_SPECS``):

==================  ==========================================================
``one``             one random node isolated from the rest
``halves``          a random minority and the majority, cut from each other
``minority-third``  a random third (at least one node) cut from the rest
``bridge``          two halves that only one *bridge* node connects
``majorities-ring`` every node sees a majority, no two nodes the same one
``primaries``       each current leader isolated on its own
==================  ==========================================================

Explicit partitions are data too: a list of components (``[["n1", "n2"], ["n3"]]``),
a flat list of nodes to cut off together (``["n1", "n2"]``), or a grudge itself
(``{"n1": ["n2"]}``). Randomness comes only from the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final

from cluster.base import Grudge

GRUDGE_SPECS: Final = (
    "one",
    "halves",
    "minority-third",
    "bridge",
    "majorities-ring",
    "primaries",
)


def majority(n: int) -> int:
    """The smallest number of nodes that is more than half of ``n``."""
    return n // 2 + 1


def minority_third_size(n: int) -> int:
    """How many nodes a *minority third* holds: a third of ``n``, at least one."""
    return max(1, n // 3)


def complete_grudge(components: Iterable[Collection[str]]) -> dict[str, frozenset[str]]:
    """Each node drops every node outside its own component (a symmetric grudge)."""
    comps = [frozenset(c) for c in components]
    everyone = frozenset().union(*comps)
    return {node: everyone - comp for comp in comps for node in comp}


def isolate(nodes: Sequence[str], cut: Collection[str]) -> dict[str, frozenset[str]]:
    """Cut the nodes in ``cut`` (together) from the rest."""
    cut_set = frozenset(cut)
    rest = [n for n in nodes if n not in cut_set]
    return complete_grudge([c for c in (cut_set, rest) if c])


def one(nodes: Sequence[str], rng: random.Random) -> dict[str, frozenset[str]]:
    """One random node isolated from the others."""
    return isolate(nodes, [rng.choice(list(nodes))])


def halves(nodes: Sequence[str], rng: random.Random) -> dict[str, frozenset[str]]:
    """A random minority (``n // 2`` nodes, rounded down) cut from the majority."""
    shuffled = _shuffled(nodes, rng)
    return isolate(nodes, shuffled[: len(nodes) // 2])


def minority_third(nodes: Sequence[str], rng: random.Random) -> dict[str, frozenset[str]]:
    """A random third of the nodes (at least one) cut from the rest."""
    shuffled = _shuffled(nodes, rng)
    return isolate(nodes, shuffled[: minority_third_size(len(nodes))])


def bridge(nodes: Sequence[str], rng: random.Random) -> dict[str, frozenset[str]]:
    """Two halves that cannot hear each other, and one bridge node that hears both.

    With five nodes: ``{a, b}`` and ``{d, e}`` are cut from each other, ``c`` talks to
    all; the bridge is in two majorities at once, the classic split-brain probe.
    """
    shuffled = _shuffled(nodes, rng)
    mid = len(shuffled) // 2
    left, bridge_node, right = shuffled[:mid], shuffled[mid], shuffled[mid + 1 :]
    grudge = complete_grudge([c for c in (left, right) if c])
    grudge[bridge_node] = frozenset()
    return grudge


def majorities_ring(nodes: Sequence[str], rng: random.Random) -> dict[str, frozenset[str]]:
    """Every node hears a majority (itself included), and no two hear the same one.

    The nodes sit on a ring in random order and each keeps its nearest neighbours: a
    regular circulant graph of the least degree ``d >= majority - 1`` that exists
    (``n * d`` even), so the grudge is symmetric. Three nodes admit no such graph short
    of hearing everyone, so there each node drops only its clockwise neighbour: a
    one-way ring.
    """
    ring = _shuffled(nodes, rng)
    n = len(ring)
    if n < 3:
        return {node: frozenset() for node in ring}
    if n == 3:
        return {ring[i]: frozenset({ring[(i + 1) % n]}) for i in range(n)}
    degree = majority(n) - 1
    if (n * degree) % 2:
        degree += 1
    distances = set(range(1, degree // 2 + 1))
    if degree % 2:  # only when n is even: add the node straight across the ring
        distances.add(n // 2)
    grudge: dict[str, frozenset[str]] = {}
    for i, node in enumerate(ring):
        heard = {ring[(i + d) % n] for d in distances} | {ring[(i - d) % n] for d in distances}
        grudge[node] = frozenset(ring) - heard - {node}
    return grudge


def primaries(nodes: Sequence[str], leaders: Collection[str]) -> dict[str, frozenset[str]]:
    """Each leader isolated on its own; the other nodes stay together.

    Empty when there is no leader: nothing to cut.
    """
    leader_set = [n for n in nodes if n in leaders]
    if not leader_set:
        return {}
    rest = [n for n in nodes if n not in leaders]
    return complete_grudge([[leader] for leader in leader_set] + ([rest] if rest else []))


def explicit(nodes: Sequence[str], spec: Any) -> dict[str, frozenset[str]]:
    """The grudge an explicit spec describes; raises ValueError naming what is wrong.

    ``spec`` is a list of components (lists of nodes), a flat list of nodes to cut off
    together, or a mapping from node to the nodes it drops.
    """
    known = set(nodes)

    def check(names: Iterable[Any]) -> list[str]:
        out = list(names)
        for name in out:
            if name not in known:
                raise ValueError(f"unknown node {name!r} in partition (nodes: {', '.join(nodes)})")
        return out

    if isinstance(spec, Mapping):
        return {check([k])[0]: frozenset(check(v)) for k, v in spec.items()}
    if isinstance(spec, list | tuple) and spec:
        if all(isinstance(c, list | tuple) for c in spec):
            comps = [check(c) for c in spec]
            flat = [n for c in comps for n in c]
            if len(flat) != len(set(flat)):
                raise ValueError("a node appears in two partition components")
            missing = [n for n in nodes if n not in set(flat)]
            return complete_grudge([c for c in [*comps, missing] if c])
        if all(isinstance(c, str) for c in spec):
            return isolate(nodes, check(spec))
    raise ValueError(
        f"partition {spec!r} is not one of {', '.join(GRUDGE_SPECS)}, "
        "a list of nodes, a list of components or a grudge mapping"
    )


def grudge_for(
    spec: Any,
    nodes: Sequence[str],
    rng: random.Random,
    leaders: Collection[str] = (),
) -> dict[str, frozenset[str]]:
    """Resolve a partition spec (a name in ``GRUDGE_SPECS`` or explicit data) to a grudge."""
    if isinstance(spec, str):
        builders = {
            "one": one,
            "halves": halves,
            "minority-third": minority_third,
            "bridge": bridge,
            "majorities-ring": majorities_ring,
        }
        if spec == "primaries":
            return primaries(nodes, leaders)
        if spec in builders:
            return builders[spec](nodes, rng)
    return explicit(nodes, spec)


def is_symmetric(grudge: Grudge) -> bool:
    """True when every drop goes both ways."""
    return all(a in grudge.get(b, ()) for a, dropped in grudge.items() for b in dropped)


def views(grudge: Grudge, nodes: Sequence[str]) -> dict[str, frozenset[str]]:
    """What each node still hears from: everyone it does not drop, itself included."""
    return {n: frozenset(nodes) - frozenset(grudge.get(n, ())) for n in nodes}


def to_json(grudge: Grudge) -> dict[str, list[str]]:
    """The grudge as JSON-ready data: nodes that drop something, each with a sorted list."""
    return {node: sorted(dropped) for node, dropped in sorted(grudge.items()) if dropped}


def _shuffled(nodes: Sequence[str], rng: random.Random) -> list[str]:
    out = list(nodes)
    rng.shuffle(out)
    return out
