"""The recorder's fast JSON lines are exactly history.op_to_json's."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.history import op_to_json
from harness.op import Op
from harness.recorder import encode_op

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8)
values = st.recursive(scalars | st.floats(allow_nan=True) | st.frozensets(st.integers(0, 9)),
                      lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                      max_leaves=8)
processes = st.integers(0, 50) | st.just("nemesis")
extras = st.dictionaries(st.sampled_from(["x", "key", "index", "extra"]), scalars, max_size=2)


@given(processes, st.sampled_from(["invoke", "ok", "fail", "info"]), st.text(max_size=6),
       values, st.integers(0, 2**62), st.integers(0, 10**6), values,
       st.none() | st.text(max_size=4), st.none() | st.text(max_size=10) | values, extras)
def test_encode_op_is_op_to_json(process: Any, type_: Any, f: str, value: Any, time: int,
                                 index: int, key: Any, node: str | None, error: Any,
                                 extra: dict[str, Any]) -> None:
    op = Op(process, type_, f, value, time, index, key, node, error, extra)
    assert encode_op(op) == op_to_json(op)


def test_common_ops() -> None:
    for op in (Op(3, "invoke", "read", None, 10, 0, 7, "n1"),
               Op(3, "ok", "cas", [1, 2], 11, 1, "k", "n1"),
               Op("nemesis", "info", "start-partition", "majority", 12, 2, error="timeout"),
               Op(1, "ok", "txn", [["append", 1, 2], ["read", 2, [1, 2]]], 13, 3),
               Op(1, "fail", "write", "é\n\"", 14, 4, error={"code": 503})):
        assert encode_op(op) == op_to_json(op)
