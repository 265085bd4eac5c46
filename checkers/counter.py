"""Counter: every read lies between what must and what may have been added.

Ops: ``add`` (value: the increment, 1 when absent; ``increment`` is accepted as a name
too) and ``read`` (value: the counter). The counter starts at 0. For a read, the
*lower bound* counts every positive add that completed ``ok`` before the read began and
every negative add that may have happened (invoked, not failed) before the read
completed; the *upper bound* the other way round. Jepsen's counter checker, extended to
negative increments. ``fail`` adds did not happen; ``info`` adds may have. A read
outside its bounds is an anomaly; without any ok read the verdict is ``"unknown"``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, Final

from checkers.result import UNKNOWN, Anomaly, Result, Valid
from harness.history import History
from harness.op import Op

ADD_FS: Final = ("add", "increment")
MAX_ANOMALIES: Final = 10


class _Sums:
    """Sums of values at history positions, for "everything before position p"."""

    def __init__(self, points: list[tuple[int, int]]) -> None:
        points.sort()
        self.positions = [p for p, _ in points]
        self.prefix = [0, *accumulate(v for _, v in points)]

    def before(self, position: int) -> int:
        return self.prefix[bisect_left(self.positions, position)]


class CounterChecker:
    """Every ok read within its possible bounds (module docstring)."""

    def __init__(self) -> None:
        self.name = "counter"

    def check(self, history: Sequence[Op]) -> Result:
        h = History.of(history)
        certain: list[tuple[int, int]] = []  # (position the add is surely done, delta)
        possible: list[tuple[int, int]] = []  # (position the add may have started, delta)
        reads = []
        for pair in h.pairs():
            if pair.f in ADD_FS:
                if pair.type == "fail":
                    continue
                delta = pair.invoke.value if pair.invoke.value is not None else 1
                if not isinstance(delta, int):
                    raise ValueError(f"op {pair.invoke.index}: a counter add needs an integer "
                                     f"value, got {delta!r}")
                possible.append((pair.start, delta))
                if pair.type == "ok" and pair.end is not None:
                    certain.append((pair.end, delta))
            elif pair.f == "read" and pair.type == "ok" and pair.completion is not None:
                reads.append(pair)
        sure_up = _Sums([(p, d) for p, d in certain if d > 0])
        sure_down = _Sums([(p, d) for p, d in certain if d < 0])
        maybe_up = _Sums([(p, d) for p, d in possible if d > 0])
        maybe_down = _Sums([(p, d) for p, d in possible if d < 0])
        anomalies: list[Anomaly] = []
        bad = 0
        worst: dict[str, Any] | None = None
        for pair in reads:
            assert pair.completion is not None and pair.end is not None
            value = pair.completion.value
            lower = sure_up.before(pair.start) + maybe_down.before(pair.end + 1)
            upper = maybe_up.before(pair.end + 1) + sure_down.before(pair.start)
            if isinstance(value, int) and lower <= value <= upper:
                continue
            bad += 1
            op = pair.completion
            when = f"at {op.time / 1e9:.2f} s" if op.time >= 0 else f"at op {op.index}"
            if len(anomalies) < MAX_ANOMALIES:
                anomalies.append(Anomaly(
                    "out-of-bounds",
                    f"read {when} returned {value!r}, but the counter could only have "
                    f"been between {lower} and {upper}", (op.index,),
                    {"value": value, "lower": lower, "upper": upper}))
            if worst is None:
                worst = {"index": op.index, "value": value, "lower": lower, "upper": upper}
        valid: Valid
        if bad:
            valid = False
            summary = f"invalid: {bad} of {len(reads)} reads out of bounds"
        elif not reads:
            valid = UNKNOWN
            summary = "unknown: no successful read"
        else:
            valid = True
            summary = f"valid: {len(reads)} reads within bounds"
        details: dict[str, Any] = {"reads": len(reads), "out_of_bounds": bad,
                                   "adds": len(possible)}
        if worst is not None:
            details["first_error"] = worst
        return Result(self.name, valid, summary, tuple(anomalies), details)
