"""A brute-force linearizability reference for the checker's tests: no cleverness.

It tries every order of the operations (each optional one used or not; a repeatable one
up to as many times as there are operations), keeping real time: an operation may go
only after every ``ok`` operation that completed before it was invoked. Memoized on the
state and what is placed, so small histories stay fast.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from checkers.models import ILLEGAL, Call, Model, freeze
from checkers.wgl import Operation, Step
from harness.history import History
from harness.op import Op


def linearizable(operations: Sequence[Operation], step: Step, inits: Sequence[Any]) -> bool:
    """Is there an order of the operations, legal from one of ``inits``?"""
    ops = list(operations)
    required = frozenset(i for i, o in enumerate(ops) if o.end is not None)
    limit = len(ops)

    @functools.cache
    def placeable(state: Any, placed: frozenset[int], uses: tuple[int, ...]) -> bool:
        if required <= placed:
            return True
        for i, o in enumerate(ops):
            if (i in placed and not o.repeatable) or uses[i] >= limit:
                continue
            if any(ops[j].end is not None and ops[j].end < o.start  # type: ignore[operator]
                   and j not in placed for j in required):
                continue
            after = step(state, o.call)
            if after is ILLEGAL:
                continue
            more = tuple(u + (k == i) for k, u in enumerate(uses))
            if placeable(after, placed | {i}, more):
                return True
        return False

    return any(placeable(s, frozenset(), (0,) * len(ops)) for s in inits)


def first_failing_completion(operations: Sequence[Operation], step: Step,
                             inits: Sequence[Any]) -> int | None:
    """The first completion no linearization gets past (its history position), or None.

    The history cut just after a completion keeps the operations invoked before it;
    those still running there may or may not have taken effect.
    """
    for end in sorted(o.end for o in operations if o.end is not None):
        cut = [o if o.end is None or o.end <= end else Operation(o.call, o.start, None,
                                                                 o.read_only)
               for o in operations if o.start < end]
        if not linearizable(cut, step, inits):
            return end
    return None


def operations_of(history: Sequence[Op], model: Model) -> list[Operation]:
    """The history's operations as the search sees them (fail dropped; no pruning)."""
    out = []
    for pair in History(history).pairs():
        if pair.type == "fail":
            continue
        known = pair.type == "ok"
        ret = freeze(pair.completion.value) if known and pair.completion else None
        call = model.prepare(Call(pair.f, pair.key, freeze(pair.invoke.value), ret, known))
        out.append(Operation(call, pair.start, pair.end if known else None,
                             model.is_read_only(call)))
    return out
