"""Models: init, step, prepare, descriptions; the registry."""

from __future__ import annotations

import pytest

from checkers.models import ILLEGAL, Call, Model, freeze, get_model, model_names
from harness.errors import InputError


def call(f, arg=None, ret=None, known=True, key=None):
    return Call(f, key, freeze(arg), freeze(ret), known)


def run(model: Model, *calls: Call):
    """The state after the calls (prepared), or ILLEGAL."""
    state = model.init()
    for c in calls:
        state = model.step(state, model.prepare(c))
        if state is ILLEGAL:
            return ILLEGAL
    return state


def test_registry_has_every_builtin_model():
    assert {"register", "cas-register", "multi-register", "mutex", "kv", "set"} <= set(
        model_names())
    with pytest.raises(InputError, match="unknown model 'queue'; known models: cas-register"):
        get_model("queue")


def test_register_reads_what_was_written_and_starts_nil():
    m = get_model("register")
    assert run(m, call("read", ret=None)) is None
    assert run(m, call("write", 3), call("read", ret=3)) == 3
    assert run(m, call("write", 3), call("read", ret=4)) is ILLEGAL
    # An unknown read tells nothing, and is read-only.
    unknown = m.prepare(call("read", known=False))
    assert m.is_read_only(unknown) and m.step(5, unknown) == 5
    with pytest.raises(ValueError, match="no 'cas' operation"):
        m.prepare(call("cas", [1, 2]))


def test_cas_register():
    m = get_model("cas-register")
    assert run(m, call("write", 1), call("cas", [1, 2]), call("read", ret=2)) == 2
    assert run(m, call("write", 1), call("cas", [2, 3])) is ILLEGAL
    assert not m.is_read_only(m.prepare(call("cas", [1, 1])))
    with pytest.raises(ValueError, match=r"\[old, new\]"):
        m.prepare(call("cas", 5))
    assert m.describe_call(m.prepare(call("read", ret=1, key=3))) == "read of key 3 returned 1"
    assert m.describe_call(m.prepare(call("write", 2))) == "write of 2"
    assert m.describe_call(m.prepare(call("cas", [1, 2]))) == "cas from 1 to 2"


def test_multi_register_txns_start_at_zero():
    m = get_model("multi-register")
    assert m.partition is None
    s = run(m, call("txn", ret=[["read", "x", 0], ["write", "y", 2]]),
            call("txn", ret=[["r", "y", 2], ["r", "x", 0]]))
    assert s is not ILLEGAL and dict(s) == {"y": 2}
    assert run(m, call("txn", ret=[["read", "x", 1]])) is ILLEGAL
    # A nil read is no constraint (Knossos); an info txn keeps only its writes.
    assert run(m, call("txn", ret=[["read", "x", None]])) == frozenset()
    info = m.prepare(call("txn", arg=[["read", "x", None], ["write", "x", 5]], known=False))
    assert info.arg == ((True, "x", 5),)
    assert m.is_read_only(m.prepare(call("txn", ret=[["read", "x", 0]])))
    with pytest.raises(ValueError, match="micro-op"):
        m.prepare(call("txn", ret=[["append", "x", 1]]))


def test_mutex():
    m = get_model("mutex")
    assert run(m, call("acquire"), call("release"), call("acquire")) is True
    assert run(m, call("acquire"), call("acquire")) is ILLEGAL
    assert run(m, call("release")) is ILLEGAL


def test_kv_get_put_append_as_in_6824():
    m = get_model("kv")
    assert run(m, call("get", ret="")) == ""
    assert run(m, call("get", ret=None)) == ""  # a missing key reads as ""
    assert run(m, call("append", "a"), call("append", "b"), call("get", ret="ab")) == "ab"
    assert run(m, call("put", "x"), call("append", "y"), call("get", ret="xy")) == "xy"
    assert run(m, call("put", "x"), call("get", ret="y")) is ILLEGAL
    with pytest.raises(ValueError, match="must be a string"):
        m.prepare(call("put", 3))


def test_set():
    m = get_model("set")
    assert run(m, call("add", 1), call("add", 2), call("read", ret=[2, 1])) == {1, 2}
    assert run(m, call("add", 1), call("read", ret=[])) is ILLEGAL


def test_a_new_model_is_init_plus_step():
    counter = Model("counter", init=lambda: 0,
                    step=lambda s, c: s + 1 if c.f == "incr" else (
                        s if c.ret == s else ILLEGAL))
    assert run(counter, call("incr"), call("incr"), call("read", ret=2)) == 2
    assert counter.describe_call(call("incr")) == "incr"
