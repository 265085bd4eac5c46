"""Linearizability: hand-written tiny histories for each model and edge case."""

from __future__ import annotations

from typing import Any

import pytest

from checkers.linearizable import LinearizabilityChecker, check_linearizable
from checkers.models import ILLEGAL, Model
from checkers.result import Checker
from harness.op import Op


def h(*rows) -> list[Op]:
    """Ops from (process, type, f, value[, key]) rows, timed 1 s apart."""
    ops = []
    for i, row in enumerate(rows):
        p, t, f, v, *key = row
        ops.append(Op(process=p, type=t, f=f, value=v, key=key[0] if key else None,
                      time=i * 1_000_000_000, index=i))
    return ops


def valid(history, model="cas-register", **kw):
    return check_linearizable(history, model, **kw).valid


def test_empty_history_and_only_failures_are_linearizable():
    assert valid([]) is True
    assert valid(h((0, "invoke", "write", 1), (0, "fail", "write", 1),
                   (1, "invoke", "read", None), (1, "fail", "read", None))) is True


def test_sequential_register():
    assert valid(h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                   (1, "invoke", "read", None), (1, "ok", "read", 1))) is True
    assert valid(h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                   (1, "invoke", "read", None), (1, "ok", "read", 2))) is False


def test_concurrent_write_may_be_seen_or_not():
    for seen in (None, 1):
        assert valid(h((0, "invoke", "write", 1), (1, "invoke", "read", None),
                       (1, "ok", "read", seen), (0, "ok", "write", 1))) is True


def test_info_write_may_take_effect_late_or_never():
    crash = ((0, "invoke", "write", 1), (0, "info", "write", None))
    assert valid(h(*crash, (1, "invoke", "read", None), (1, "ok", "read", None))) is True
    assert valid(h(*crash, (1, "invoke", "read", None), (1, "ok", "read", 1))) is True
    # ... but not before it was invoked.
    assert valid(h((1, "invoke", "read", None), (1, "ok", "read", 1), *crash)) is False


def test_info_read_is_ignored_and_failed_write_never_happened():
    assert valid(h((0, "invoke", "read", None), (0, "info", "read", 7))) is True
    assert valid(h((0, "invoke", "write", 3), (0, "fail", "write", 3),
                   (1, "invoke", "read", None), (1, "ok", "read", 3))) is False


def test_crashed_process_never_completes():
    # Process 0 never completed its write (the run died): it may have happened.
    assert valid(h((0, "invoke", "write", 2), (1, "invoke", "read", None),
                   (1, "ok", "read", 2))) is True


def test_concurrent_cas():
    base = ((0, "invoke", "write", 0), (0, "ok", "write", 0),
            (1, "invoke", "cas", [0, 1]), (2, "invoke", "cas", [0, 2]))
    # Both cas from 0 cannot succeed.
    assert valid(h(*base, (1, "ok", "cas", [0, 1]), (2, "ok", "cas", [0, 2]))) is False
    # One succeeds, the other fails; the read shows the winner.
    assert valid(h(*base, (1, "ok", "cas", [0, 1]), (2, "fail", "cas", [0, 2]),
                   (3, "invoke", "read", None), (3, "ok", "read", 1))) is True
    # A cas whose outcome is unknown may have won.
    assert valid(h(*base, (1, "info", "cas", [0, 1]), (2, "fail", "cas", [0, 2]),
                   (3, "invoke", "read", None), (3, "ok", "read", 1))) is True


def test_write_of_the_current_value_still_counts_later():
    # The write of 0 by process 2 overlaps the write of 4: ordered after it, it
    # explains the final read of 0 (a pruning that treated "writes 0 while 0" as a
    # no-op would get this wrong).
    assert valid(h((0, "invoke", "write", 0), (0, "ok", "write", 0),
                   (1, "invoke", "read", None), (1, "ok", "read", 0),
                   (2, "invoke", "write", 0), (3, "invoke", "write", 4),
                   (3, "ok", "write", 4), (2, "ok", "write", 0),
                   (1, "invoke", "read", None), (1, "ok", "read", 0))) is True


def test_multi_register():
    assert valid(h((0, "invoke", "txn", [["w", "x", 1], ["w", "y", 1]]),
                   (0, "ok", "txn", [["w", "x", 1], ["w", "y", 1]]),
                   (1, "invoke", "txn", [["r", "x", None], ["r", "y", None]]),
                   (1, "ok", "txn", [["r", "x", 1], ["r", "y", 0]])),
                 "multi-register") is False
    assert valid(h((1, "invoke", "txn", [["r", "x", None], ["r", "y", None]]),
                   (0, "invoke", "txn", [["w", "x", 1], ["w", "y", 1]]),
                   (1, "ok", "txn", [["r", "x", 0], ["r", "y", 0]]),
                   (0, "ok", "txn", [["w", "x", 1], ["w", "y", 1]])),
                 "multi-register") is True


def test_mutex():
    assert valid(h((0, "invoke", "acquire", None), (0, "ok", "acquire", None),
                   (1, "invoke", "acquire", None), (1, "ok", "acquire", None)),
                 "mutex") is False
    assert valid(h((0, "invoke", "acquire", None), (0, "ok", "acquire", None),
                   (1, "invoke", "acquire", None), (0, "invoke", "release", None),
                   (0, "ok", "release", None), (1, "ok", "acquire", None)), "mutex") is True


def test_kv_partitions_by_key():
    ops = h((0, "invoke", "append", "a", "k1"), (1, "invoke", "append", "b", "k2"),
            (0, "ok", "append", "a", "k1"), (1, "ok", "append", "b", "k2"),
            (2, "invoke", "get", None, "k1"), (2, "ok", "get", "a", "k1"),
            (3, "invoke", "get", None, "k2"), (3, "ok", "get", "", "k2"))
    r = check_linearizable(ops, "kv")
    assert r.valid is False and r.details["parts"] == 2
    assert r.details["counterexample"]["part"] == "k2"
    assert r.summary.startswith("not linearizable at key 'k2': Get of key 'k2' returned ''")


def test_set_model():
    assert valid(h((0, "invoke", "add", 1), (1, "invoke", "read", None),
                   (1, "ok", "read", []), (0, "ok", "add", 1),
                   (1, "invoke", "read", None), (1, "ok", "read", [1])), "set") is True


def test_keys_partition_registers_and_independent_splits_tuples():
    tuples = h((0, "invoke", "write", [1, 5]), (0, "ok", "write", [1, 5]),
               (1, "invoke", "write", [2, 6]), (1, "ok", "write", [2, 6]),
               (2, "invoke", "read", [1, None]), (2, "ok", "read", [1, 5]))
    r = check_linearizable(tuples, "register", independent=True)
    assert r.valid is True and r.details["parts"] == 2
    keyed = h((0, "invoke", "write", 5, 1), (0, "ok", "write", 5, 1),
              (1, "invoke", "write", 6, 2), (1, "ok", "write", 6, 2),
              (2, "invoke", "read", None, 1), (2, "ok", "read", 5, 1))
    assert check_linearizable(keyed, "register").details["parts"] == 2


def test_nemesis_ops_are_ignored():
    ops = h(("nemesis", "info", "start-partition", None), (0, "invoke", "write", 1),
            ("nemesis", "info", "start-partition", ["n1"]), (0, "ok", "write", 1))
    assert valid(ops) is True


def test_unknown_operation_for_the_model_is_an_input_error():
    from harness.errors import InputError
    with pytest.raises(InputError, match=r"op 0 .*no 'append' operation"):
        check_linearizable(h((0, "invoke", "append", 1), (0, "ok", "append", 1)),
                           "register")


def test_counterexample_is_minimal_and_explained():
    # Writes 1 then 2 complete; then a read returns 1. Noise around it is dropped.
    ops = h((5, "invoke", "read", None), (5, "ok", "read", None),
            (0, "invoke", "write", 1), (0, "ok", "write", 1),
            (6, "invoke", "read", None), (6, "ok", "read", 1),
            (1, "invoke", "write", 2), (1, "ok", "write", 2),
            (7, "invoke", "write", 3), (7, "fail", "write", 3),
            (2, "invoke", "read", None, None), (2, "ok", "read", 1),
            (8, "invoke", "read", None), (8, "ok", "read", 2))
    r = check_linearizable(ops, "cas-register")
    assert r.valid is False
    ce = r.details["counterexample"]
    assert [(o["f"], o["type"], o["value"]) for o in ce["ops"]] == [
        ("write", "invoke", 1), ("write", "ok", 1), ("write", "invoke", 2),
        ("write", "ok", 2), ("read", "invoke", None), ("read", "ok", 1)]
    assert ce["failing"] == 11 and ce["part"] is None and ce["minimal"] is True
    assert ce["prefix_length"] == 9  # the events of the part before the failing read
    assert ce["sentence"] == ("Read returned 1 at 11.00 s, but the write of 2 completed at "
                              "7.00 s before the read began, and no write of 1 could have "
                              "followed it.")
    (anomaly,) = r.anomalies
    assert anomaly.kind == "nonlinearizable" and anomaly.explanation == ce["sentence"]
    assert set(anomaly.ops) == {2, 3, 6, 7, 10, 11}


def test_counterexample_for_a_value_never_written():
    r = check_linearizable(h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                             (1, "invoke", "read", None), (1, "ok", "read", 9)),
                           "register")
    ce = r.details["counterexample"]
    assert [o["value"] for o in ce["ops"]] == [None, 9]
    assert ce["sentence"] == ("Read returned 9 at 3.00 s, but no operation in the history "
                              "leads to a state in which that is legal (the initial state "
                              "is nil).")


def _hard_history(n: int = 12) -> list[Op]:
    """n concurrent appends, then a get whose value no order can produce."""
    rows: list[tuple[Any, ...]] = [(p, "invoke", "append", f"{p},", "k") for p in range(n)]
    rows += [(p, "ok", "append", f"{p},", "k") for p in range(n)]
    rows += [(99, "invoke", "get", None, "k"), (99, "ok", "get", "nope", "k")]
    return h(*rows)


def test_time_limit_gives_unknown_not_a_hang():
    r = check_linearizable(_hard_history(), "kv", time_limit=0.3)
    assert r.valid == "unknown"
    assert r.error is not None and "time limit" in r.error
    assert r.details["elapsed"] < 5


def test_memory_limit_gives_unknown():
    r = check_linearizable(_hard_history(), "kv", memory_limit=2_000_000)
    assert r.valid == "unknown" and "memory limit" in (r.error or "")


def test_parallel_and_serial_agree():
    rows = []
    for k in range(4):
        rows += [(k, "invoke", "write", k, k), (k, "ok", "write", k, k),
                 (10 + k, "invoke", "read", None, k),
                 (10 + k, "ok", "read", k if k != 2 else 7, k)]
    ops = h(*rows)
    serial = check_linearizable(ops, "register", parallel=False)
    parallel = check_linearizable(ops, "register", parallel=True)
    assert serial.valid is parallel.valid is False
    assert serial.details["counterexample"] == parallel.details["counterexample"]


def test_custom_model_needs_no_change_to_the_search():
    stack = Model("stack", init=tuple,
                  step=lambda s, c: (*s, c.arg) if c.f == "push" else (
                      s[:-1] if s and s[-1] == c.ret else ILLEGAL))
    ops = h((0, "invoke", "push", 1), (1, "invoke", "push", 2), (0, "ok", "push", 1),
            (1, "ok", "push", 2), (2, "invoke", "pop", None), (2, "ok", "pop", 1))
    assert check_linearizable(ops, stack).valid is True
    ops[-1] = ops[-1].with_(value=3)
    assert check_linearizable(ops, stack).valid is False


def test_checker_form():
    checker: Checker = LinearizabilityChecker("cas-register")
    r = checker.check(h((0, "invoke", "write", 1), (0, "ok", "write", 1)))
    assert r.valid is True and r.checker == "linearizable (cas-register)"
    assert checker.name == "linearizable (cas-register)"
