"""Properties of the linearizability checker (Hypothesis).

Histories generated from a sequential execution, with real overlaps between processes,
``info`` ops (which may or may not have happened) and ``fail`` ops, are linearizable;
corrupting one read to a value never written makes them not; and on small arbitrary
histories the checker agrees with a plain brute-force search over every order.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.linearizable import check_linearizable
from checkers.models import ILLEGAL, Call, freeze, get_model
from harness.history import History
from harness.op import Op

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Planned:
    process: int
    f: str
    value: Any
    start: float
    point: float  # when it takes effect, inside [start, end]
    end: float
    outcome: str  # ok, info, fail
    happens: bool = True


@st.composite
def executions(draw, model: str = "cas-register", max_ops: int = 14) -> list[Op]:
    """A history of a sequential register executed by overlapping processes."""
    processes = draw(st.integers(1, 5))
    n = draw(st.integers(0, max_ops))
    clock = [draw(st.floats(0, 1)) for _ in range(processes)]
    plans: list[Planned] = []
    for _ in range(n):
        slot = draw(st.integers(0, processes - 1))
        start = clock[slot]
        length = draw(st.floats(0.01, 3))
        point = start + draw(st.floats(0, 1)) * length
        end = start + length
        clock[slot] = end + draw(st.floats(0.001, 1))
        if model == "kv":
            f = draw(st.sampled_from(["get", "put", "append"]))
            value = None if f == "get" else draw(st.sampled_from(["a", "b", "c"]))
        else:
            f = draw(st.sampled_from(["read", "write", "cas"]))
            value = (None if f == "read" else draw(st.integers(0, 3)) if f == "write"
                     else [draw(st.integers(0, 3)), draw(st.integers(0, 3))])
        outcome = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        plans.append(Planned(slot, f, value, start, point, end, outcome,
                             happens=outcome == "ok" or (outcome == "info" and draw(
                                 st.booleans()))))
    state: Any = "" if model == "kv" else None
    results: dict[int, Any] = {}
    for i in sorted(range(n), key=lambda i: plans[i].point):
        p = plans[i]
        if not p.happens:
            continue
        if p.f in ("read", "get"):
            results[i] = state
        elif p.f in ("write", "put"):
            state = p.value
        elif p.f == "append":
            state += p.value
        elif state == p.value[0]:
            state = p.value[1]
        elif p.outcome == "ok":
            p.outcome = "fail"  # the compare failed: the client saw a failed cas
    events = []
    names = list(range(processes))
    for i in sorted(range(n), key=lambda i: plans[i].start):
        p = plans[i]
        name = names[p.process]
        events.append((p.start, Op(process=name, type="invoke", f=p.f, value=p.value)))
        value = results.get(i) if p.f in ("read", "get") and p.outcome == "ok" else p.value
        events.append((p.end, Op(process=name, type=p.outcome, f=p.f, value=value)))  # type: ignore[arg-type]
        if p.outcome == "info":
            names[p.process] += processes  # a crashed process continues as a new one
    events.sort(key=lambda e: e[0])
    return list(History(op for _, op in events))


@given(executions())
@SETTINGS
def test_sequential_executions_are_linearizable(history):
    assert check_linearizable(history, "cas-register").valid is True


@given(executions("kv"))
@SETTINGS
def test_sequential_kv_executions_are_linearizable(history):
    keyed = [op.with_(key="k") for op in history]
    assert check_linearizable(keyed, "kv").valid is True


@given(executions(), st.data())
@SETTINGS
def test_one_read_of_a_value_never_written_is_not_linearizable(history, data):
    reads = [i for i, op in enumerate(history) if op.f == "read" and op.type == "ok"]
    if not reads:
        return
    i = data.draw(st.sampled_from(reads))
    corrupted = list(history)
    corrupted[i] = corrupted[i].with_(value=99)
    r = check_linearizable(corrupted, "cas-register")
    assert r.valid is False
    ce = r.details["counterexample"]
    assert ce["failing"] == corrupted[i].index
    assert any(o["value"] == 99 for o in ce["ops"])


# ---------------------------------------------------------------------------- brute force


def brute_force_linearizable(history: list[Op], model_name: str) -> bool:
    """Try every order of every subset of info operations; no cleverness at all."""
    model = get_model(model_name)
    ops = []
    for pair in History(history).pairs():
        if pair.type == "fail":
            continue
        known = pair.type == "ok"
        c = model.prepare(Call(pair.f, pair.key, freeze(pair.invoke.value),
                               freeze(pair.completion.value) if known and pair.completion
                               else None, known))
        ops.append((c, pair.start, pair.end if known else None))
    required = [i for i, (_, _, end) in enumerate(ops) if end is not None]
    optional = [i for i, (_, _, end) in enumerate(ops) if end is None]
    for mask in range(1 << len(optional)):
        chosen = required + [o for b, o in enumerate(optional) if mask >> b & 1]
        for order in permutations(chosen):
            placed = set()
            state = model.init()
            for i in order:
                c, start, _ = ops[i]
                # real time: everything that completed before i began must come first
                if any(end is not None and end < start and j not in placed
                       for j, (_, _, end) in enumerate(ops) if j in chosen):
                    break
                state = model.step(state, c)
                if state is ILLEGAL:
                    break
                placed.add(i)
            else:
                return True
    return False


@st.composite
def small_histories(draw) -> list[Op]:
    """Arbitrary small register histories: any overlap, any read value."""
    n = draw(st.integers(1, 5))
    spans = []
    for p in range(n):
        a, b = sorted((draw(st.integers(0, 20)), draw(st.integers(0, 20))))
        f = draw(st.sampled_from(["read", "write", "cas"]))
        value = (None if f == "read" else draw(st.integers(0, 2)) if f == "write"
                 else [draw(st.integers(0, 2)), draw(st.integers(0, 2))])
        outcome = draw(st.sampled_from(["ok", "ok", "info", "fail"]))
        result = draw(st.sampled_from([None, 0, 1, 2])) if f == "read" else value
        spans.append((a, 0, Op(process=p, type="invoke", f=f, value=value)))
        spans.append((b, 1, Op(process=p, type=outcome, f=f, value=result)))
    spans.sort(key=lambda s: (s[0], s[1]))
    return list(History(op for _, _, op in spans))


@given(small_histories())
@settings(max_examples=400, deadline=None)
def test_agrees_with_brute_force_on_small_histories(history):
    expected = brute_force_linearizable(history, "cas-register")
    assert check_linearizable(history, "cas-register").valid is expected
