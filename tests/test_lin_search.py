"""The search itself (checkers/wgl.py) against brute force, on arbitrary small parts.

Parts of every kind the search accepts: ok and optional operations (some repeatable),
reads, several possible initial states; searched with fingerprints and with exact
bitsets. The verdict must match brute force; an invalid part must be stuck at the first
completion nothing gets past; and the orders the search hands out must be real
linearizations: of the whole part, or of the prefix it got through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.models import ILLEGAL, Call, get_model
from checkers.wgl import Operation, search
from tests.lin_brute_force import first_failing_completion, linearizable

MODELS = ["register", "cas-register", "kv", "mutex"]


@st.composite
def calls(draw, model: str, known: bool) -> tuple[Call, bool]:
    """A call of the model, and whether it is read-only."""
    if model == "kv":
        f = draw(st.sampled_from(["get", "put", "append"]))
        if f == "get":
            ret = draw(st.sampled_from(["", "a", "b", "ab", "ba"])) if known else None
            return Call("get", "k", None, ret, known), True
        return Call(f, "k", draw(st.sampled_from(["a", "b"])), None, known), False
    if model == "mutex":
        return Call(draw(st.sampled_from(["acquire", "release"])), None, None, None,
                    known), False
    f = draw(st.sampled_from(["read", "write", "cas"] if model == "cas-register"
                             else ["read", "write"]))
    if f == "read":
        ret = draw(st.sampled_from([None, 0, 1, 2])) if known else None
        return Call("read", None, None, ret, known), True
    arg: Any = (draw(st.integers(0, 2)) if f == "write"
                else (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    return Call(f, None, arg, arg, known), False


@st.composite
def parts(draw, model: str) -> tuple[list[Operation], list[Any]]:
    """Up to 6 operations at distinct positions, and the possible initial states."""
    n = draw(st.integers(1, 6))
    positions = draw(st.permutations(range(2 * n)))
    ops = []
    for i in range(n):
        start, end = sorted(positions[2 * i:2 * i + 2])
        optional = draw(st.integers(0, 3)) == 0
        call, read_only = draw(calls(model, known=not optional))
        # Repeatable operations only where the states stay finite (not kv's appends).
        repeatable = optional and model != "kv" and draw(st.booleans())
        ops.append(Operation(call, start, None if optional else end, read_only,
                             repeatable and not read_only))
    ops.sort(key=lambda o: o.start)
    m = get_model(model)
    others: list[Any] = (["a", "ab"] if model == "kv" else [True] if model == "mutex"
                         else [0, 1, 2])
    inits = [m.init(), *draw(st.lists(st.sampled_from(others), max_size=2, unique=True))]
    return ops, inits


def replays(ops: Sequence[Operation], order: Sequence[int], model: str,
            inits: Sequence[Any]) -> bool:
    """Is ``order`` a legal sequence from one of the initial states, keeping real time
    (every ok operation that completed before one in it began comes before it)?"""
    step = get_model(model).step
    for state in inits:
        placed: set[int] = set()
        for i in order:
            o = ops[i]
            if any(p.end is not None and p.end < o.start and j not in placed
                   for j, p in enumerate(ops)):
                break
            state = step(state, o.call)
            if state is ILLEGAL:
                break
            placed.add(i)
        else:
            return True
    return False


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("exact", [False, True])
@given(data=st.data())
@settings(max_examples=250, deadline=None)
def test_search_agrees_with_brute_force(model, exact, data):
    ops, inits = data.draw(parts(model))
    step = get_model(model).step
    out = search(ops, step, inits[0], starts=inits[1:], exact=exact, want_order=True)
    expected = linearizable(ops, step, inits)
    assert out.valid is expected
    assert out.order is not None
    assert replays(ops, out.order, model, inits)
    if expected:
        assert {i for i in out.order} >= {i for i, o in enumerate(ops) if o.end is not None}
    else:
        end = first_failing_completion(ops, step, inits)
        assert out.stuck is not None and out.prefix_end == end == ops[out.stuck].end
        # the order covers everything that completed before the failing completion
        assert {i for i in out.order} >= {i for i, o in enumerate(ops)
                                          if o.end is not None and o.end < end}


def test_equal_optional_calls_are_used_earliest_first_and_only_when_needed():
    # Forty identical crashed writes of 1, then reads alternating 1 and 2 around ok
    # writes of 2: each read of 1 uses up one crashed write; the 41st read of 1 fails.
    m = get_model("register")
    w1 = Call("write", None, 1, None, False)
    ops = [Operation(w1, i, None) for i in range(40)]
    t = 40
    for _ in range(41):
        ops.append(Operation(Call("write", None, 2, 2, True), t, t + 1))
        ops.append(Operation(Call("read", None, None, 1, True), t + 2, t + 3, True))
        t += 4
    out = search(ops, m.step, m.init())
    assert out.valid is False and out.stuck == len(ops) - 1
    assert out.configurations < 2_000  # not the 2^40 subsets of the crashed writes
    assert search(ops[:-1], m.step, m.init()).valid is True


def test_repeatable_operation_is_a_free_move():
    m = get_model("register")
    w1 = Operation(Call("write", None, 1, None, False), 0, None, repeatable=True)
    reads = []
    for k in range(5):  # 2, 1, 2, 1, ...: the write of 1 must take effect 5 times
        reads.append(Operation(Call("write", None, 2, 2, True), 10 * k + 1, 10 * k + 2))
        reads.append(Operation(Call("read", None, None, 1, True), 10 * k + 3, 10 * k + 4,
                               True))
    assert search([w1, *reads], m.step, m.init()).valid is True
    once = Operation(w1.call, 0, None)
    assert search([once, *reads], m.step, m.init()).valid is False


def test_several_initial_states_share_the_search():
    m = get_model("register")
    read_7 = Operation(Call("read", None, None, 7, True), 0, 1, True)
    assert search([read_7], m.step, None).valid is False
    assert search([read_7], m.step, None, starts=[3, 7]).valid is True


def test_stall_handler_proof_answers_false_at_once():
    """A handler that proves the stuck completion: the search stops with its answer."""
    m = get_model("kv")
    appends = [Operation(Call("append", "k", f"{i},", None, True), i, 100 + i)
               for i in range(12)]
    get = Operation(Call("get", "k", None, "nope", True), 200, 201, True)
    asked: list[int] = []

    def handler(stuck: int) -> int | None:
        asked.append(stuck)
        return 7

    out = search([*appends, get], m.step, m.init(), on_stall=handler)
    assert asked and out.valid is False and out.refuted_from == 7
    assert out.stuck is not None and out.prefix_end is not None
