"""Invariant checkers (bank, set-full, counter, unique ids) and compose."""

from __future__ import annotations

from checkers.bank import BankChecker
from checkers.compose import compose
from checkers.counter import CounterChecker
from checkers.result import Result
from checkers.sets import SetChecker
from checkers.unique_ids import UniqueIdsChecker
from harness.op import Op


def h(*rows) -> list[Op]:
    return [Op(process=p, type=t, f=f, value=v, index=i, time=i * 10**9)
            for i, (p, t, f, v) in enumerate(rows)]


def read(p, value):
    return [(p, "invoke", "read", None), (p, "ok", "read", value)]


# ---------------------------------------------------------------------------- bank


def test_bank_valid_reads():
    r = BankChecker([0, 1], 10).check(h(
        (0, "invoke", "transfer", {"from": 0, "to": 1, "amount": 3}),
        *read(1, {"0": 10, "1": 0}),  # JSON keys arrive as strings
        (0, "ok", "transfer", {"from": 0, "to": 1, "amount": 3}),
        *read(1, {0: 7, 1: 3})))
    assert r.valid is True and r.details["reads"] == 2


def test_bank_anomalies():
    r = BankChecker([0, 1], 10).check(h(*read(0, {0: 4, 1: 5}), *read(0, {0: 12, 1: -2}),
                                        *read(0, {0: 10}), *read(0, {0: 5, 1: 5, 9: 0})))
    assert r.valid is False
    kinds = sorted(a.kind for a in r.anomalies)
    assert kinds == ["negative-value", "nil-balance", "unexpected-key", "wrong-total"]
    wrong = next(a for a in r.anomalies if a.kind == "wrong-total")
    assert wrong.explanation == "read at 1.00 s saw a total of 9, not 10: {0: 4, 1: 5}"
    assert wrong.ops == (1,)


def test_bank_negative_allowed_and_no_reads_unknown():
    assert BankChecker([0, 1], 10, allow_negative=True).check(
        h(*read(0, {0: 12, 1: -2}))).valid is True
    assert BankChecker([0, 1], 10).check([]).valid == "unknown"


# ---------------------------------------------------------------------------- set-full


def add(p, x, outcome="ok"):
    return [(p, "invoke", "add", x), (p, outcome, "add", x)]


def test_set_stable_lost_stale_never_read():
    r = SetChecker().check(h(
        *add(0, 1), *add(0, 2), *add(0, 3),
        *read(1, [1, 2, 3]),
        *read(1, [1, 3]),        # 2 missing ...
        *read(1, [1]),           # ... 3 missing, for good
        *read(1, [1, 2]),        # 2 back: stale, not lost
        *add(0, 4)))
    assert r.valid is False
    assert r.details["counts"]["stable"] == 1  # 1
    assert r.details["lost"] == [3] and r.details["stale"] == [2]
    assert r.details["never-read"] == [4]
    assert [a.kind for a in r.anomalies] == ["lost"]


def test_set_visibility_starts_when_the_add_completes():
    # A read concurrent with the add may miss the element: not lost.
    r = SetChecker().check(h((0, "invoke", "add", 1), (1, "invoke", "read", None),
                             (0, "ok", "add", 1), (1, "ok", "read", []), *read(1, [1])))
    assert r.valid is True and r.details["counts"]["stable"] == 1


def test_set_recovered_unexpected_duplicated():
    r = SetChecker().check(h(*add(0, 1, "info"), *add(0, 2, "fail"), *read(1, [1, 2, 7, 1])))
    assert r.valid is False
    assert r.details["recovered"] == [1]
    assert sorted(r.details["unexpected"]) == [2, 7]
    assert r.details["duplicated"] == [1]
    assert {a.kind for a in r.anomalies} == {"unexpected", "duplicated"}


def test_set_linearizable_makes_stale_invalid_and_no_reads_unknown():
    rows = (*add(0, 1), *read(1, []), *read(1, [1]))
    assert SetChecker().check(h(*rows)).valid is True
    assert SetChecker(linearizable=True).check(h(*rows)).valid is False
    assert SetChecker().check(h(*add(0, 1))).valid == "unknown"


# ---------------------------------------------------------------------------- counter


def test_counter_bounds():
    rows = ((0, "invoke", "add", 1), (0, "ok", "add", 1),
            (1, "invoke", "add", 5), (2, "invoke", "read", None), (2, "ok", "read", 6),
            (1, "info", "add", 5), *read(2, 1))
    r = CounterChecker().check(h(*rows))
    assert r.valid is True and r.details["reads"] == 2
    bad = CounterChecker().check(h((0, "invoke", "add", 2), (0, "ok", "add", 2),
                                   (0, "invoke", "add", 3), (0, "fail", "add", 3),
                                   *read(1, 5)))
    assert bad.valid is False
    assert bad.anomalies[0].explanation == ("read at 5.00 s returned 5, but the counter "
                                            "could only have been between 2 and 2")


def test_counter_negative_increments_and_no_reads():
    r = CounterChecker().check(h((0, "invoke", "add", -3), *read(1, 0), *read(1, -3)))
    assert r.valid is True
    assert CounterChecker().check([]).valid == "unknown"


# ---------------------------------------------------------------------------- unique ids


def test_unique_ids():
    ok = UniqueIdsChecker().check(h((0, "invoke", "generate", None), (0, "ok", "generate", 1),
                                    (0, "invoke", "generate", None),
                                    (0, "ok", "generate", 2)))
    assert ok.valid is True and ok.details["acknowledged"] == 2
    dup = UniqueIdsChecker().check(h((0, "invoke", "generate", None),
                                     (0, "ok", "generate", [1, 2]),
                                     (1, "invoke", "generate", None),
                                     (1, "ok", "generate", [1, 2])))
    assert dup.valid is False and dup.anomalies[0].ops == (1, 3)
    assert dup.details["duplicated"] == 1


# ---------------------------------------------------------------------------- compose


class Fixed:
    def __init__(self, name, valid):
        self.name, self.valid = name, valid

    def check(self, history):
        return Result(self.name, self.valid, f"{self.valid}")


class Raises:
    name = "broken"

    def check(self, history):
        raise RuntimeError("boom")


def test_compose_merges_false_over_unknown_over_true():
    assert compose({"a": Fixed("a", True), "b": Fixed("b", True)}).check([]).valid is True
    assert compose({"a": Fixed("a", True), "b": Fixed("b", "unknown")}).check(
        []).valid == "unknown"
    assert compose({"a": Fixed("a", False), "b": Fixed("b", "unknown")}).check(
        []).valid is False


def test_compose_turns_an_exception_into_unknown_and_keeps_each_result():
    r = compose({"bank": BankChecker([0], 5), "broken": Raises()}).check(h(*read(0, {0: 4})))
    assert r.valid is False  # the bank's false outranks the broken checker's unknown
    results = r.details["results"]
    assert results["broken"]["valid"] == "unknown"
    assert results["broken"]["error"] == "RuntimeError: boom"
    assert results["bank"]["valid"] is False
    assert r.anomalies[0].data["checker"] == "bank"
    assert "broken: RuntimeError: boom" in (r.error or "")
    only_broken = compose({"broken": Raises()}).check([])
    assert only_broken.valid == "unknown"
