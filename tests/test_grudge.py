"""Grudges and target specs as pure functions: shapes, symmetry, views, determinism."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemesis import grudge as g
from nemesis.targets import TARGET_SPECS, needs_leaders, resolve_targets

node_lists = st.integers(min_value=1, max_value=9).map(lambda n: [f"n{i}" for i in range(1, n + 1)])
seeds = st.integers(min_value=0, max_value=2**32)
SPLITS = ("one", "halves", "minority-third", "bridge")
SHAPES = (*SPLITS, "majorities-ring")


@st.composite
def components(draw: st.DrawFn) -> list[list[str]]:
    nodes = draw(node_lists)
    labels = draw(st.lists(st.integers(0, 3), min_size=len(nodes), max_size=len(nodes)))
    comps: dict[int, list[str]] = {}
    for node, label in zip(nodes, labels, strict=True):
        comps.setdefault(label, []).append(node)
    return list(comps.values())


@given(components())
def test_complete_grudge_is_symmetric_and_spares_its_own_component(comps: list[list[str]]) -> None:
    grudge = g.complete_grudge(comps)
    assert g.is_symmetric(grudge)
    for comp in comps:
        for node in comp:
            assert node not in grudge[node]
            assert grudge[node].isdisjoint(comp)
            assert grudge[node] | set(comp) == {n for c in comps for n in c}


@given(node_lists, seeds, st.sampled_from(SHAPES))
def test_no_node_holds_a_grudge_against_itself(nodes: list[str], seed: int, spec: str) -> None:
    grudge = g.grudge_for(spec, nodes, random.Random(seed))
    assert set(grudge) <= set(nodes)
    assert all(node not in dropped and dropped <= set(nodes) for node, dropped in grudge.items())


@given(node_lists.filter(lambda ns: len(ns) >= 2), seeds, st.sampled_from(SPLITS))
def test_splits_are_symmetric_and_leave_exactly_one_majority_side(
    nodes: list[str], seed: int, spec: str
) -> None:
    grudge = g.grudge_for(spec, nodes, random.Random(seed))
    assert g.is_symmetric(grudge)
    views = g.views(grudge, nodes)
    majority_views = {v for v in views.values() if len(v) >= g.majority(len(nodes))}
    if spec != "bridge":
        assert len(majority_views) <= 1
    if spec != "bridge" or len(nodes) >= 3:  # two nodes and a bridge: nothing to cut
        assert any(len(v) < len(nodes) for v in views.values()), "someone is cut off"


@given(node_lists.filter(lambda ns: len(ns) >= 3), seeds)
def test_one_isolates_exactly_one_node(nodes: list[str], seed: int) -> None:
    views = g.views(g.one(nodes, random.Random(seed)), nodes)
    alone = [n for n, v in views.items() if v == {n}]
    assert len(alone) == 1
    assert all(len(v) == len(nodes) - 1 for n, v in views.items() if n not in alone)


@given(node_lists.filter(lambda ns: len(ns) >= 2), seeds)
def test_halves_cut_a_minority_from_a_majority(nodes: list[str], seed: int) -> None:
    sizes = sorted({len(v) for v in g.views(g.halves(nodes, random.Random(seed)), nodes).values()})
    assert sizes == sorted({len(nodes) // 2, len(nodes) - len(nodes) // 2})


@given(node_lists.filter(lambda ns: len(ns) >= 3), seeds)
def test_bridge_node_hears_everyone_the_halves_hear_only_it(nodes: list[str], seed: int) -> None:
    grudge = g.bridge(nodes, random.Random(seed))
    bridges = [n for n, dropped in grudge.items() if not dropped]
    assert len(bridges) == 1
    for node, view in g.views(grudge, nodes).items():
        assert bridges[0] in view
        assert len(view) < len(nodes) or node == bridges[0]


@given(node_lists.filter(lambda ns: len(ns) >= 3), seeds)
def test_majorities_ring_leaves_every_node_a_majority_view_and_no_two_alike(
    nodes: list[str], seed: int
) -> None:
    grudge = g.majorities_ring(nodes, random.Random(seed))
    views = g.views(grudge, nodes)
    assert all(len(v) >= g.majority(len(nodes)) for v in views.values())
    assert all(len(v) < len(nodes) for v in views.values()), "everyone misses someone"
    assert len(set(views.values())) == len(nodes), "no two nodes share a majority"
    if len(nodes) >= 4:
        assert g.is_symmetric(grudge)


def test_majorities_ring_of_five_is_a_ring() -> None:
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    grudge = g.majorities_ring(nodes, random.Random(7))
    assert all(len(d) == 2 for d in grudge.values())
    # a ring: following "the first neighbour not yet visited" visits every node once
    heard = {n: set(nodes) - grudge[n] - {n} for n in nodes}
    seen, at = ["n1"], "n1"
    while len(seen) < 5:
        at = min(heard[at] - set(seen))
        seen.append(at)
    assert "n1" in heard[seen[-1]]


def test_primaries_isolates_each_leader_alone() -> None:
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    grudge = g.primaries(nodes, ["n2", "n4"])
    views = g.views(grudge, nodes)
    assert views["n2"] == {"n2"} and views["n4"] == {"n4"}
    assert views["n1"] == {"n1", "n3", "n5"}
    assert g.primaries(nodes, []) == {}


def test_explicit_partitions() -> None:
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    comps = g.explicit(nodes, [["n1", "n2"], ["n3"]])
    assert g.views(comps, nodes)["n4"] == {"n4", "n5"}, "unnamed nodes form their own side"
    assert g.views(g.explicit(nodes, ["n1", "n5"]), nodes)["n1"] == {"n1", "n5"}
    assert g.explicit(nodes, {"n1": ["n2"]}) == {"n1": frozenset({"n2"})}
    for bad in (["n9"], [["n1"], ["n1", "n2"]], 42, "everything", [], {"n1": ["n7"]}):
        with pytest.raises(ValueError):
            g.grudge_for(bad, nodes, random.Random(0))


@given(node_lists, seeds, st.sampled_from(SHAPES))
def test_same_seed_same_grudge(nodes: list[str], seed: int, spec: str) -> None:
    assert g.grudge_for(spec, nodes, random.Random(seed)) == g.grudge_for(
        spec, nodes, random.Random(seed))


def test_to_json_lists_only_nodes_that_drop_something() -> None:
    assert g.to_json({"n1": frozenset({"n3", "n2"}), "n2": frozenset()}) == {"n1": ["n2", "n3"]}


# -- target specs ------------------------------------------------------------------------

@given(node_lists, seeds, st.sampled_from([s for s in TARGET_SPECS if s != "primaries"]))
def test_targets_have_the_size_their_name_promises(nodes: list[str], seed: int, spec: str) -> None:
    chosen = resolve_targets(spec, nodes, random.Random(seed))
    n = len(nodes)
    assert chosen and set(chosen) <= set(nodes) and len(set(chosen)) == len(chosen)
    assert chosen == [x for x in nodes if x in chosen], "in cluster order"
    expected = {"one": 1, "minority": max(1, (n - 1) // 2), "majority": n // 2 + 1, "all": n,
                "minority-third": max(1, n // 3)}
    if spec in expected:
        assert len(chosen) == expected[spec]
    if spec == "minority" and n >= 3:
        assert len(chosen) < g.majority(n)


def test_primaries_and_explicit_targets() -> None:
    nodes = ["n1", "n2", "n3"]
    assert needs_leaders("primaries") and not needs_leaders("one")
    assert resolve_targets("primaries", nodes, random.Random(0), ["n3"]) == ["n3"]
    assert resolve_targets("primaries", nodes, random.Random(0), []) == []
    assert resolve_targets(["n3", "n1"], nodes, random.Random(0)) == ["n1", "n3"]
    for bad in ("most", ["n4"], 3, None):
        with pytest.raises(ValueError):
            resolve_targets(bad, nodes, random.Random(0))
