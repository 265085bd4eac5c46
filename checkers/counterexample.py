"""Counterexamples: why a part of a history is not linearizable, small and in words.

Given the operation the search could not get past, this finds a small sub-history that
is still not linearizable, and for the same operation, by dropping operations while
that stays so (first whole
windows of the past, then delta debugging, Zeller's ddmin), within a time budget.
Operations invoked after the failing one completed can never matter and go first.

Dropping alone would often shrink too far: a read of 1 that came too late is "fixed"
into a read of a value nobody wrote by dropping the write of 1. So when the failing
operation is *plausible* (legal after some operations of its part, taken in any order)
shrinking keeps it plausible, and the minimal history shows the real conflict: the
write of 1, the write of 2 that completed before the read began, and the read.

The sentence names the failing operation, the latest operation that completed before
it began, and the operation it would have needed after that one, for example: "Read
of key 3 returned 1 at 2.41 s, but the write of 2 completed at 2.30 s before the read
began, and no write of 1 could have followed it."
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from checkers.models import ILLEGAL, Model
from checkers.refute import search_refuting
from checkers.wgl import Operation, SearchOutcome
from harness.history import OpPair
from harness.op import Op

CHECK_TIME: Final = 0.25  # seconds for one search while shrinking


@dataclass(frozen=True, slots=True)
class CounterexampleInput:
    """One non-linearizable part and where its search got stuck."""

    key: Hashable
    operations: Sequence[Operation]
    pairs: Sequence[OpPair]
    stuck: int  # position in ``operations`` of the operation that cannot be linearized
    prefix_end: int  # history position of its completion
    model: Model
    # The search's linearization of what came before (positions in ``operations``): it
    # spares a search of the whole prefix (SearchOutcome.order).
    prefix_order: Sequence[int] | None = None


def counterexample(inp: CounterexampleInput, *, time_budget: float) -> dict[str, Any]:
    """The counterexample dict documented in checkers/result.py (without ``part`` and
    ``prefix_length``, which the caller knows), plus ``minimal``: whether shrinking
    finished within the budget."""
    shrinker = _Shrinker(inp, time.monotonic() + time_budget)
    kept, minimal = shrinker.shrink()
    failing = shrinker.failing_of(kept)
    pairs = inp.pairs
    ops: list[Op] = []
    for i in kept:
        ops.append(pairs[i].invoke)
        c = pairs[i].completion
        if c is not None:
            ops.append(c)
    ops.sort(key=lambda o: o.index)
    fail_pair = pairs[failing]
    fail_op = fail_pair.completion if fail_pair.completion is not None else fail_pair.invoke
    return {
        "ops": [o.to_dict() for o in ops],
        "failing": fail_op.index,
        "sentence": _sentence(inp, kept, failing, shrinker.constrained),
        "minimal": minimal,
    }


class _Shrinker:
    """Seeds and delta debugging over the operations of one part (see module docstring)."""

    def __init__(self, inp: CounterexampleInput, deadline: float) -> None:
        self.inp = inp
        self.deadline = deadline
        self.failing = inp.stuck
        self.constrained = True

    def _time_left(self) -> float:
        return self.deadline - time.monotonic()

    def _search(self, operations: Sequence[Operation], want_order: bool = False,
                check_time: float = CHECK_TIME) -> SearchOutcome:
        budget = min(check_time, max(self._time_left(), 0.0))
        return search_refuting(operations, self.inp.model.step, self.inp.model.init(),
                               deadline=time.monotonic() + budget, want_order=want_order)

    def stuck_at_failing(self, ids: Sequence[int]) -> bool:
        """Does the search on these operations still get stuck at the failing one?"""
        out = self._search([self.inp.operations[i] for i in ids])
        return out.valid is False and out.stuck is not None and ids[out.stuck] == self.failing

    def plausible(self, ids: Sequence[int]) -> bool:
        """Is the failing operation legal after some of the others, in some order?"""
        ops = self.inp.operations
        f = ops[self.failing]
        others = [ops[i] for i in ids if i != self.failing]
        # The failing call first, then the others as optional operations, all concurrent.
        trial = [Operation(f.call, 0, len(others) + 1, f.read_only)]
        trial += [Operation(o.call, i + 1, None, o.read_only) for i, o in enumerate(others)]
        return self._search(trial).valid is True

    def acceptable(self, ids: Sequence[int]) -> bool:
        if not self.stuck_at_failing(ids):
            return False
        return not self.constrained or self.plausible(ids)

    def failing_of(self, ids: Sequence[int]) -> int:
        out = self._search([self.inp.operations[i] for i in ids])
        if out.valid is False and out.stuck is not None:
            return ids[out.stuck]
        return self.failing

    def shrink(self) -> tuple[list[int], bool]:
        ops = self.inp.operations
        end = ops[self.failing].end
        assert end is not None
        # Operations invoked after the failing one completed cannot matter.
        relevant = sorted((i for i, o in enumerate(ops) if o.start < end),
                          key=lambda i: ops[i].start)
        producer = _needed(self.inp, relevant, self.failing, None)
        f_call = ops[self.failing].call
        model = self.inp.model
        self.constrained = (producer is not None
                            or model.step(model.init(), f_call) is not ILLEGAL)
        for seed in self._seeds(relevant, producer):
            if self._time_left() <= 0:
                return relevant, False
            if self.acceptable(seed):
                return self._ddmin(seed)
        self.constrained = False
        return self._ddmin(relevant)

    def _seeds(self, relevant: list[int], producer: int | None) -> Iterator[list[int]]:
        """Small candidate sub-histories, smallest first, from one linearization of
        everything before the failing operation: its last state change, the producer
        of what the failing operation needed, then longer and longer suffixes."""
        ops = self.inp.operations
        model = self.inp.model
        line = self._prefix_line(relevant)
        if line is None:
            return
        extra = [producer] if producer is not None else []
        state = model.init()
        last_change = None
        for i in line:
            new = model.step(state, ops[i].call)
            if not (new is state or new == state):
                last_change = i
            state = new
        bases: list[set[int]] = []
        if last_change is not None:
            bases.append({self.failing, last_change})
        k = 2
        while k < len(line):
            bases.append({self.failing, *line[-k:]})
            k *= 2
        bases.append({self.failing, *line})
        for base in bases:
            yield _ordered(ops, base)
            if extra and not base.issuperset(extra):
                yield _ordered(ops, base | set(extra))

    def _prefix_line(self, relevant: list[int]) -> list[int] | None:
        """A linearization of the relevant operations before the failing one: the
        search's, or found again."""
        before = [i for i in relevant if i != self.failing]
        if self.inp.prefix_order is not None:
            keep = set(before)
            return [i for i in self.inp.prefix_order if i in keep]
        ops = self.inp.operations
        end = ops[self.failing].end
        assert end is not None
        # Everything else, with operations still running when the failing one completed
        # made optional: the search reached this point, so this is linearizable.
        trial = [ops[i] if _ends_by(ops[i], end) else
                 Operation(ops[i].call, ops[i].start, None, ops[i].read_only) for i in before]
        out = self._search(trial, want_order=True, check_time=self._time_left() / 2)
        if out.valid is not True or out.order is None:
            return None
        return [before[j] for j in out.order]

    def _ddmin(self, kept: list[int]) -> tuple[list[int], bool]:
        chunks = 2
        while True:
            droppable = [i for i in kept if i != self.failing]
            if not droppable:
                return kept, True
            chunks = min(chunks, len(droppable))
            size = math.ceil(len(droppable) / chunks)
            removed = False
            for c in range(0, len(droppable), size):
                if self._time_left() <= 0:
                    return kept, False
                drop = set(droppable[c:c + size])
                trial = [i for i in kept if i not in drop]
                if self.acceptable(trial):
                    kept = trial
                    chunks = max(chunks - 1, 2)
                    removed = True
                    break
            if not removed:
                if size == 1:
                    return kept, True
                chunks = min(chunks * 2, len(droppable))


def _ends_by(op: Operation, position: int) -> bool:
    return op.end is not None and op.end <= position


def _ordered(ops: Sequence[Operation], ids: set[int]) -> list[int]:
    return sorted(ids, key=lambda i: ops[i].start)


# ---------------------------------------------------------------------------- words


def _when(op: Op) -> str:
    if op.time >= 0:
        return f"at {op.time / 1e9:.2f} s"
    return f"at op {op.index}"


def _outcome(pair: OpPair) -> str:
    if pair.completion is None or pair.completion.type == "info":
        return "outcome unknown"
    return f"completed {_when(pair.completion)}"


def _sentence(inp: CounterexampleInput, kept: Sequence[int], failing: int,
              constrained: bool) -> str:
    model, ops, pairs = inp.model, inp.operations, inp.pairs
    describe = model.describe_call
    f_op, f_pair = ops[failing], pairs[failing]
    f_done = f_pair.completion if f_pair.completion is not None else f_pair.invoke
    head = f"{describe(f_op.call)} {_when(f_done)}"
    head = head[0].upper() + head[1:]
    others = [i for i in kept if i != failing]
    before = [i for i in others if ops[i].end is not None and (ops[i].end or 0) < f_op.start]
    if not others:
        return (f"{head}, but no operation in the history leads to a state in which that "
                f"is legal (the initial state is {model.describe_state(model.init())}).")
    if not before:
        listed = "; ".join(f"{describe(ops[i].call)} ({_outcome(pairs[i])})"
                           for i in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        if len(others) == 1:
            return f"{head}, but no order of it and the overlapping {listed} is legal."
        return (f"{head}, but no order of it and the {len(others)} operations overlapping "
                f"it ({listed}{more}) is legal.")
    last = max(before, key=lambda i: ops[i].end or 0)
    last_pair = pairs[last]
    last_done = last_pair.completion if last_pair.completion is not None else last_pair.invoke
    needed = _needed(inp, kept, failing, last)
    tail = (f"no {describe(ops[needed].call)} could have followed it" if needed is not None
            else "no operation that makes it legal could have followed it")
    return (f"{head}, but the {describe(ops[last].call)} completed {_when(last_done)} "
            f"before the {f_op.call.f} began, and {tail}.")


def _needed(inp: CounterexampleInput, kept: Sequence[int], failing: int,
            last: int | None, *, scan: int = 200) -> int | None:
    """An operation after which the failing one would be legal (the latest such).

    It may start from the initial state or from any state one operation leads to;
    only the ``scan`` latest operations are tried.
    """
    model, ops = inp.model, inp.operations
    init = model.init()
    states = [init]
    seen = {init}
    for i in kept:
        s = model.step(init, ops[i].call)
        if s is not ILLEGAL and s not in seen and len(states) < scan:
            seen.add(s)
            states.append(s)
    f_call = ops[failing].call
    candidates = sorted((i for i in kept if i not in (failing, last)),
                        key=lambda i: -ops[i].start)[:scan]
    for i in candidates:
        for s in states:
            after = model.step(s, ops[i].call)
            if after is not ILLEGAL and model.step(after, f_call) is not ILLEGAL:
                return i
    return None
