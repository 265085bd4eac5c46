"""Refutation by window (checkers/refute.py): its parts, its soundness, and the long
single-key histories it exists for.

Soundness is the property that matters: whenever a window refutes a completion, brute
force agrees that nothing gets past it. The long histories (20,000 operations on one
key, 20 processes, crashed operations) have one corrupted read near the end or the
start: the checker must name it, quickly, with a minimal counterexample.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.linearizable import check_linearizable
from checkers.models import Call, get_model
from checkers.refute import Refuter, reachable_states
from checkers.wgl import Operation
from harness.op import Op
from tests.lin_brute_force import linearizable
from tests.test_lin_search import parts


def test_reachable_states_are_the_closure_under_the_calls():
    m = get_model("cas-register")
    calls = [Call("write", None, 1, None, True), Call("cas", None, (1, 2), None, True),
             Call("cas", None, (3, 4), None, True)]
    assert reachable_states(calls, m.step, m.init(), 100) == [None, 1, 2]
    appends = [Call("append", "k", "a", None, True)]
    assert reachable_states(appends, get_model("kv").step, "", 50) is None  # endless


def test_window_keeps_the_recent_past_and_relaxes_the_rest():
    m = get_model("register")
    w = lambda v, s, e: Operation(Call("write", None, v, v, True), s, e)  # noqa: E731
    r = lambda v, s, e: Operation(Call("read", None, None, v, True), s, e, True)  # noqa: E731
    ops = [w(1, 0, 1),       # completed long before: only a possible start state
           w(2, 2, 9),       # invoked before the cut, still running: optional
           Operation(Call("write", None, 3, None, False), 3, None),  # crashed: optional
           w(4, 5, 6),       # in the window
           r(1, 7, 8),       # in the window
           r(4, 10, 12),     # the stuck read
           w(5, 11, 20)]     # completes after it: optional
    refuter = Refuter(ops, m.step, m.init())
    window = refuter.window(5, 4)  # the 4 operations invoked last before the read's end
    assert window is not None and window.cut == 5
    assert set(window.starts) == {None, 1, 2, 3, 4, 5}  # by what was invoked before
    assert [(o.call.arg, o.start, o.end, o.repeatable) for o in window.operations] == [
        (2, 2, None, True), (3, 3, None, True), (4, 5, 6, False), (None, 7, 8, False),
        (None, 10, 12, False), (5, 11, None, True)]
    # The read of 1 began after the write of 4 completed, and no write of 1 can follow.
    assert refuter(4) is not None
    assert not linearizable([o for o in ops if o.start < 8], m.step, [m.init()])


@pytest.mark.parametrize("model", ["register", "cas-register", "kv", "mutex"])
@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_a_refuted_completion_is_one_nothing_gets_past(model, data):
    ops, _ = data.draw(parts(model))
    ops = [Operation(o.call, o.start, o.end, o.read_only) for o in ops]  # as the checker
    m = get_model(model)
    refuter = Refuter(ops, m.step, m.init(), deadline=time.monotonic() + 10)
    for i, x in enumerate(ops):
        if x.end is None or refuter(i) is None:
            continue
        end = x.end
        prefix = [o if o.end is None or o.end <= end else
                  Operation(o.call, o.start, None, o.read_only) for o in ops if o.start < end]
        assert not linearizable(prefix, m.step, [m.init()])


# ---------------------------------------------------------------------------- long histories


def simulated(model: str, operations: int, *, processes: int = 20, values: int = 5,
              p_info: float = 0.01, seed: int = 0) -> list[Op]:
    """A linearizable single-key history: each operation takes effect at a random instant
    inside its interval; some crash (info: effect or not), their process going on under
    a new id. cas ops whose compare fails complete as fail."""
    rng = random.Random(seed)
    clock = [rng.random() for _ in range(processes)]
    plans = []
    for _ in range(operations):
        slot = min(range(processes), key=clock.__getitem__)
        start = clock[slot]
        duration = rng.expovariate(2.0) + 0.01
        clock[slot] = start + duration + rng.expovariate(4.0)
        f = rng.choice(["read", "write", "cas"] if model == "cas-register" else
                       ["read", "write"])
        value: Any = (None if f == "read" else rng.randrange(values) if f == "write"
                      else [rng.randrange(values), rng.randrange(values)])
        crashed = rng.random() < p_info
        plans.append([start, start + rng.random() * duration, start + duration, slot, f,
                      value, "info" if crashed else "ok", value])
    state = None
    for plan in sorted(plans, key=lambda p: p[1]):
        _, _, _, _, f, value, outcome, _ = plan
        if outcome == "info" and rng.random() < 0.5:
            continue  # crashed before taking effect
        if f == "read":
            plan[7] = state
        elif f == "write":
            state = value
        elif state == value[0]:
            state = value[1]
        elif outcome == "ok":
            plan[6] = "fail"
    events = []
    names = list(range(processes))
    for start, _, end, slot, f, value, outcome, result in sorted(plans):
        p = names[slot]
        events.append((start, 0, Op(process=p, type="invoke", f=f, value=value)))
        events.append((end, 1, Op(process=p, type=outcome, f=f,
                                  value=result if outcome == "ok" else value)))
        if outcome == "info":
            names[slot] += processes
    events.sort(key=lambda e: (e[0], e[1]))
    return [op.with_(index=i, time=int(t * 1e9)) for i, (t, _, op) in enumerate(events)]


def corrupted(history: list[Op], where: str, value: Any = 99) -> tuple[list[Op], int]:
    reads = [i for i, op in enumerate(history) if op.f == "read" and op.type == "ok"]
    i = reads[-10] if where == "end" else reads[10]
    changed = list(history)
    changed[i] = changed[i].with_(value=value)
    return changed, i


@pytest.mark.parametrize("model, where", [("register", "end"), ("cas-register", "end"),
                                          ("cas-register", "start")])
def test_long_single_key_history_with_one_bad_read(model, where):
    history, bad = corrupted(simulated(model, 20_000, seed=4), where)
    started = time.monotonic()
    r = check_linearizable(history, model, time_limit=60)
    assert r.valid is False, r.summary
    assert time.monotonic() - started < 20  # the search alone: a few seconds at most
    ce = r.details["counterexample"]
    assert ce["failing"] == bad and ce["minimal"]
    assert [(o["type"], o["value"]) for o in ce["ops"]] == [("invoke", None), ("ok", 99)]
    assert ce["prefix_length"] > (25_000 if where == "end" else 0)  # of ~30,000 events


def test_long_single_key_history_with_a_stale_read():
    history = simulated("cas-register", 20_000, values=1000, seed=4)
    i = [i for i, op in enumerate(history) if op.f == "read" and op.type == "ok"][-10]
    began = max(j for j in range(i) if history[j].process == history[i].process
                and history[j].type == "invoke")
    writes = [j for j in range(began) if history[j].type == "ok" and history[j].f == "write"]
    stale = history[writes[-30]].value  # overwritten many times before the read began
    history, bad = corrupted(history, "end", stale)
    r = check_linearizable(history, "cas-register", time_limit=60)
    assert r.valid is False, r.summary
    ce = r.details["counterexample"]
    assert ce["failing"] == bad and ce["minimal"] and len(ce["ops"]) <= 8
    assert f"returned {stale}" in ce["sentence"]


def test_long_single_key_history_without_a_bad_read_is_linearizable():
    r = check_linearizable(simulated("register", 20_000, seed=5), "register", time_limit=60)
    assert r.valid is True, r.summary
