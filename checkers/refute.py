"""Refutation by window: proving fast that the search cannot get past a completion.

When the search (checkers/wgl.py) is stuck at the completion of an operation x deep in a
long history, proving by backtracking that no linearization gets past it costs time
exponential in the concurrency, for every operation before x. The reason is usually
recent: a read of a value overwritten just before, or never written at all. So the
proof looks at a *window*: the part's history from a cut point ``a`` to x's completion
``p``, relaxed so that it stays true to every linearization of the whole history:

- it may start in any state the model can reach from the initial one by the calls of
  the operations invoked before ``p`` (their closure, when it is small enough: a
  superset of the states the operations invoked before ``a`` can lead to);
- the operations invoked before ``a`` that had not completed by then, those whose
  outcome is unknown, and those completing after ``p`` become optional and repeatable
  (:class:`~checkers.wgl.Operation`): taken effect before the cut, in the window any
  number of times, or never;
- the others (invoked after ``a``, completed by ``p``) and x are as they were.

A linearization of the history up to ``p`` splits at ``a``: the operations placed
before it lead to a reachable start state, and the rest is a linearization of the
window. So a window that is linearizable from no start state proves that the history
is not linearizable past ``p``; the search had reached ``p``, so x's completion is
exactly the first one nothing gets past. Windows are searched with exact bitsets; they
grow (16, 32, ... operations before ``p``) until one is refuted, one covers the whole
history, or the time for this attempt runs out. Refuting may take a share of the time
the search has taken so far, so a history that is only hard, not wrong, loses little.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from checkers.models import ILLEGAL, Call
from checkers.wgl import Operation, SearchOutcome, Step, search

FIRST_WINDOW: Final = 16  # operations invoked before the completion, in the first window
MAX_STATES: Final = 4096  # start states beyond which a window is not tried
MAX_CLOSURE_STEPS: Final = 4_000_000  # model steps to find them, at most
TIME_SHARE: Final = 0.5  # refuting may take this share of the time searched so far...
MIN_ATTEMPT: Final = 0.05  # ... and at least this many seconds per attempt
MEMORY_SHARE: Final = 4  # a window's cache may take 1/this of the search's memory limit


@dataclass(frozen=True, slots=True)
class Window:
    """The relaxed history from a cut to a completion, and the states it may start in."""

    cut: int  # history position of the first operation invoked in the window
    operations: tuple[Operation, ...]
    starts: tuple[Any, ...]


def reachable_states(calls: Iterable[Call], step: Step, init: Any, limit: int,
                     max_steps: int = MAX_CLOSURE_STEPS) -> list[Any] | None:
    """Every state reachable from ``init`` by the calls, in any order and number
    (breadth first, ``init`` first); None if there are more than ``limit``, or finding
    them would take more than ``max_steps`` steps of the model."""
    calls = list(calls)
    states = [init]
    seen = {init}
    for state in states:  # grows while iterating: breadth first
        max_steps -= len(calls)
        if max_steps < 0:
            return None
        for call in calls:
            after = step(state, call)
            if after is ILLEGAL or after in seen:
                continue
            if len(states) >= limit:
                return None
            seen.add(after)
            states.append(after)
    return states


class Refuter:
    """Refutes stuck completions of one part by windows (an ``on_stall`` handler).

    ``started`` is when the search began (its time sets the budget); ``deadline`` and
    ``memory_limit`` are the search's.
    """

    def __init__(self, operations: Sequence[Operation], step: Step, init: Any, *,
                 deadline: float | None = None, memory_limit: int | None = None,
                 started: float | None = None) -> None:
        self.operations = operations
        self.step = step
        self.init = init
        self.deadline = deadline
        self.memory_limit = None if memory_limit is None else memory_limit // MEMORY_SHARE
        self.started = time.monotonic() if started is None else started
        self.spent = 0.0
        self.by_start = sorted(range(len(operations)), key=lambda i: operations[i].start)
        self.starts = [operations[i].start for i in self.by_start]
        first: dict[Call, int] = {}  # each distinct state-changing call: first invoked
        for i in self.by_start:
            o = operations[i]
            if not o.read_only and o.call not in first:
                first[o.call] = o.start
        self.first_invoked = sorted(first.items(), key=lambda kv: kv[1])
        self.next_size: dict[int, int] = {}  # per stuck operation: the window to try next
        self.hopeless: set[int] = set()
        self.closures: dict[int, list[Any] | None] = {}  # start states, per completion

    def __call__(self, stuck: int) -> int | None:
        """The cut of a window that refutes ``stuck``'s completion, or None."""
        if stuck in self.hopeless:
            return None
        now = time.monotonic()
        budget = max(MIN_ATTEMPT, TIME_SHARE * (now - self.started) - self.spent)
        until = now + budget if self.deadline is None else min(now + budget, self.deadline)
        try:
            return self._attempt(stuck, until)
        finally:
            self.spent += time.monotonic() - now

    def _attempt(self, stuck: int, until: float) -> int | None:
        end = self.operations[stuck].end
        assert end is not None, "only an ok operation can be stuck"
        invoked = bisect.bisect_left(self.starts, end)  # operations invoked before it
        if self._states_before(end) is None:
            self.hopeless.add(stuck)  # too many states: windows cannot finish
            return None
        size = self.next_size.get(stuck, FIRST_WINDOW)
        while time.monotonic() < until:
            w = self.window(stuck, size)
            if w is not None:
                out = search(w.operations, self.step, w.starts[0], starts=w.starts[1:],
                             deadline=until, memory_limit=self.memory_limit, exact=True)
                if out.valid is False:
                    return w.cut
                if out.valid is not True:  # out of time: this size again, next time
                    self.next_size[stuck] = size
                    return None
            if size >= invoked:
                self.hopeless.add(stuck)  # even the whole history does not refute it
                return None
            size *= 2
            self.next_size[stuck] = size
        return None

    def _states_before(self, position: int) -> list[Any] | None:
        """The states reachable by the calls invoked before ``position``, in any order
        and number (None: too many, or too costly to find)."""
        if position not in self.closures:
            calls = [c for c, first in self.first_invoked if first < position]
            self.closures[position] = reachable_states(calls, self.step, self.init,
                                                       MAX_STATES)
        return self.closures[position]

    def window(self, stuck: int, size: int) -> Window | None:
        """The window of the ``size`` operations invoked last before ``stuck``'s
        completion (see module docstring); None if it may start in too many states."""
        ops = self.operations
        x = ops[stuck]
        end = x.end
        assert end is not None
        invoked = bisect.bisect_left(self.starts, end)
        first = max(0, invoked - size)
        cut = self.starts[first] if first < invoked else end
        starts = self._states_before(end)
        if starts is None:
            return None
        required: list[Operation] = []
        optional: dict[Call, int] = {}  # call -> its earliest invocation
        for rank in range(invoked):
            i = self.by_start[rank]
            o = ops[i]
            if i == stuck or (rank >= first and o.end is not None and o.end < end):
                required.append(o)
            elif rank < first and o.end is not None and o.end < cut:
                continue  # completed before the cut: its effect is in the start state
            elif not o.read_only and o.call not in optional:
                optional[o.call] = o.start
        window = required + [Operation(call, start, None, False, True)
                             for call, start in optional.items()]
        window.sort(key=lambda o: o.start)
        return Window(cut, tuple(window), tuple(starts))


def search_refuting(operations: Sequence[Operation], step: Step, init: Any, *,
                    deadline: float | None = None, memory_limit: int | None = None,
                    want_order: bool = False) -> SearchOutcome:
    """The search of checkers/wgl.py, with stuck completions refuted by windows: how the
    checker searches a part."""
    refuter = Refuter(operations, step, init, deadline=deadline, memory_limit=memory_limit)
    return search(operations, step, init, deadline=deadline, memory_limit=memory_limit,
                  want_order=want_order, on_stall=refuter)
