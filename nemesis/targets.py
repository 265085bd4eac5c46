"""Target specs: which nodes a process, clock or packet fault hits.

A nemesis op names its targets as data, and the nemesis resolves them when it runs,
with its own seeded ``random.Random`` and, for ``primaries``, the leaders it just
found through the status API. Pure: spec, nodes, rng and leaders in; node list out.

================  =====================================================
``one``           one random node
``minority``      a random minority (``(n - 1) // 2`` nodes, at least one)
``minority-third``  a random third of the nodes (at least one)
``majority``      a random majority (``n // 2 + 1`` nodes)
``all``           every node
``primaries``     every node that currently claims to be leader
``random-subset`` a random non-empty subset
a list            exactly those nodes (``["n1", "n3"]``)
================  =====================================================
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import Any, Final

from nemesis.grudge import majority, minority_third_size

TARGET_SPECS: Final = (
    "one",
    "minority",
    "minority-third",
    "majority",
    "all",
    "primaries",
    "random-subset",
)


def needs_leaders(spec: Any) -> bool:
    """True when resolving ``spec`` needs the current leaders (a status round trip)."""
    return spec == "primaries"


def resolve_targets(
    spec: Any,
    nodes: Sequence[str],
    rng: random.Random,
    leaders: Collection[str] = (),
) -> list[str]:
    """The nodes ``spec`` names, in cluster order; raises ValueError for a bad spec.

    ``primaries`` with no leader resolves to no nodes: the caller reports that nothing
    was done rather than picking someone else.
    """
    n = len(nodes)
    if isinstance(spec, str):
        size = {
            "one": 1,
            "minority": max(1, (n - 1) // 2),
            "minority-third": minority_third_size(n),
            "majority": majority(n),
            "all": n,
        }.get(spec)
        if size is not None:
            chosen: Collection[str] = set(rng.sample(list(nodes), min(size, n)))
        elif spec == "primaries":
            chosen = set(leaders)
        elif spec == "random-subset":
            chosen = set(rng.sample(list(nodes), rng.randint(1, n)))
        else:
            raise ValueError(
                f"target {spec!r} is not one of {', '.join(TARGET_SPECS)} or a list of nodes"
            )
        return [node for node in nodes if node in chosen]
    if isinstance(spec, list | tuple) and all(isinstance(s, str) for s in spec):
        unknown = [s for s in spec if s not in nodes]
        if unknown:
            raise ValueError(f"unknown node(s) {', '.join(unknown)} (nodes: {', '.join(nodes)})")
        return [node for node in nodes if node in spec]
    raise ValueError(f"target {spec!r} is not one of {', '.join(TARGET_SPECS)} or a list of nodes")
