"""Properties of the linearizability checker (Hypothesis).

Histories generated from a sequential execution, with real overlaps between processes,
``info`` ops (which may or may not have happened) and ``fail`` ops, are linearizable;
corrupting one read to a value never written makes them not; and on small arbitrary
histories of every model the checker agrees with a plain brute-force search over every
order, verdict and failing operation (the first completion nothing gets past) alike,
also when every stall of the search is put to the window refutation at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers import wgl
from checkers.linearizable import check_linearizable
from checkers.models import get_model
from harness.history import History
from harness.op import Op
from tests.lin_brute_force import first_failing_completion, linearizable, operations_of

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
    return linearizable(operations_of(history, model), model.step, [model.init()])


@st.composite
def small_histories(draw, model: str = "cas-register") -> list[Op]:
    """Arbitrary small histories of a model: any overlap, any read value, info and fail
    completions, and invocations never completed."""
    n = draw(st.integers(1, 5))
    spans = []
    for p in range(n):
        a, b = sorted((draw(st.integers(0, 20)), draw(st.integers(0, 20))))
        f, value, result = draw(_calls(model))
        outcome = draw(st.sampled_from(["ok", "ok", "info", "fail", "never"]))
        spans.append((a, 0, Op(process=p, type="invoke", f=f, value=value)))
        if outcome != "never":
            spans.append((b, 1, Op(process=p, type=outcome, f=f, value=result)))
    spans.sort(key=lambda s: (s[0], s[1]))
    return list(History(op for _, _, op in spans))


@st.composite
def _calls(draw, model: str) -> tuple[str, Any, Any]:
    """One operation of the model: f, invocation value, completion value."""
    if model == "kv":
        f = draw(st.sampled_from(["get", "put", "append"]))
        if f == "get":
            return f, None, draw(st.sampled_from(["", "a", "b", "ab", "ba", "aa"]))
        value = draw(st.sampled_from(["a", "b"]))
        return f, value, value
    if model == "mutex":
        return draw(st.sampled_from(["acquire", "release"])), None, None
    fs = ["read", "write", "cas"] if model == "cas-register" else ["read", "write"]
    f = draw(st.sampled_from(fs))
    if f == "read":
        return f, None, draw(st.sampled_from([None, 0, 1, 2]))
    value = (draw(st.integers(0, 2)) if f == "write"
             else [draw(st.integers(0, 2)), draw(st.integers(0, 2))])
    return f, value, value


MODELS = ["register", "cas-register", "kv", "mutex"]


def _agrees_with_brute_force(history: list[Op], model_name: str) -> None:
    model = get_model(model_name)
    operations = operations_of(history, model)
    expected = linearizable(operations, model.step, [model.init()])
    r = check_linearizable(history, model_name)
    assert r.valid is expected
    if expected is False:
        # The failing op is the first completion no linearization gets past.
        end = first_failing_completion(operations, model.step, [model.init()])
        assert r.details["counterexample"]["failing"] == end


@given(small_histories())
@settings(max_examples=400, deadline=None)
def test_agrees_with_brute_force_on_small_histories(history):
    assert check_linearizable(history, "cas-register").valid is brute_force_linearizable(
        history, "cas-register")


@pytest.mark.parametrize("model", MODELS)
@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_every_model_agrees_with_brute_force(model, data):
    _agrees_with_brute_force(data.draw(small_histories(model)), model)


@contextmanager
def refuting_at_every_step() -> Iterator[None]:
    """The search's periodic checks after every step, and a stall after one: every
    stuck completion is put to the window refutation at once (checkers/refute.py)."""
    with patch.object(wgl, "CHECK_EVERY", 1), patch.object(wgl, "STALL_STEPS", 1):
        yield


@pytest.mark.parametrize("model", MODELS)
@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_refuting_at_every_stall_agrees_with_brute_force(model, data):
    history = data.draw(small_histories(model))
    with refuting_at_every_step():
        _agrees_with_brute_force(history, model)


@given(executions(), st.data())
@SETTINGS
def test_refuting_a_corrupted_read_at_every_stall(history, data):
    reads = [i for i, op in enumerate(history) if op.f == "read" and op.type == "ok"]
    if not reads:
        return
    i = data.draw(st.sampled_from(reads))
    corrupted = list(history)
    corrupted[i] = corrupted[i].with_(value=99)
    with refuting_at_every_step():
        r = check_linearizable(corrupted, "cas-register")
    assert r.valid is False
    assert r.details["counterexample"]["failing"] == corrupted[i].index
