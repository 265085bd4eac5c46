"""The linearizability search: Wing and Gong's algorithm with Lowe's improvements.

Input: the operations of one part of a history (see checkers/linearizable.py), each a
model :class:`~checkers.models.Call` with the positions of its invocation and, for an
``ok`` operation, its completion. The search keeps the *call* and *return* entries of
all operations in one doubly linked list in history order. It walks the list from the
front: at a call entry it tries to linearize that operation now (the model's ``step``
must accept it); if the resulting configuration (the set of linearized operations, a
bitset kept as a 128-bit fingerprint, see :func:`search`; and the model state) is new,
it records it in the cache, lifts the operation's call
and return entries out of the list and starts again from the front. Reaching a return
entry means that operation should already have been linearized: backtrack, restoring
the last lifted operation and trying the next candidate after it. The history is
linearizable when every ``ok`` operation has been lifted.

An ``info`` operation (outcome unknown) may take effect at any time after its
invocation, or never: its return entry sits after every ``ok`` return, so the search
succeeds as soon as only ``info`` entries remain.

One further pruning, sound for any model: an operation that never changes the state,
in any state (a read), can always be linearized as early as it is legal, so a
configuration where it is legal succeeds exactly when the one with it linearized does.
(An operation that merely leaves *this* state unchanged, such as a write of the current
value, does not qualify: later, in another state, it would change it.) When the search
backtracks over such an operation, or finds the configuration with it linearized
already in the cache, it backtracks at once instead of trying other operations in its
place.

The search never hangs and never runs out of memory: it checks a deadline and the cache
size every few thousand steps and gives up with ``"unknown"``.
"""

from __future__ import annotations

import gc
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from checkers.models import ILLEGAL, Call

CHECK_EVERY: Final = 4096  # search steps between deadline and cache-size checks
EXACT_CONFIRM_MAX: Final = 4096  # parts up to this size get an exact confirmation


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a part: its call, and where it starts and ends in the history.

    ``end`` is None for an operation whose outcome is unknown (``info``). ``read_only``
    says the operation never changes the state, whatever the state (the model's
    ``is_read_only``): it allows the pruning described in the module docstring.
    """

    call: Call
    start: int
    end: int | None
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """What the search found for one part.

    ``stuck`` (for ``valid is False``) is the position in ``operations`` of the
    operation whose completion no configuration could get past, at the furthest point
    the search reached; ``prefix_end`` is that completion's history position (every
    event of the part before it forms a linearizable prefix).
    """

    valid: bool | Literal["unknown"]
    stuck: int | None = None
    prefix_end: int | None = None
    configurations: int = 0
    reason: str = ""
    elapsed: float = 0.0
    order: tuple[int, ...] | None = None  # a linearization (positions), if asked for


def cache_entry_bytes(n_operations: int, state: Any, *, exact: bool = False) -> int:
    """An estimate of the memory one cache entry takes, for a part of this size.

    A set slot and a 2-tuple (~110 bytes), the fingerprint (a 128-bit int, 44 bytes) or,
    when exact, the bitset (an int of n bits), and a state like ``state``.
    """
    return 110 + (28 + n_operations // 8 if exact else 44) + sys.getsizeof(state)


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for a block (restored after, if it was on).

    The search allocates millions of small acyclic objects (freed by reference
    counting); the collector would keep re-scanning the growing cache for cycles that
    are not there, which makes big checks several times slower.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Bits:
    """Each operation's word when the fingerprint is the exact bitset: bit i."""

    __slots__ = ()

    def __getitem__(self, i: int) -> int:
        return 1 << i


def search(operations: Sequence[Operation], step: Callable[[Any, Call], Any], init: Any,
           *, deadline: float | None = None, memory_limit: int | None = None,
           want_order: bool = False, exact: bool = False) -> SearchOutcome:
    """Decide whether the operations (one part, in invocation order) are linearizable.

    ``deadline`` is a ``time.monotonic()`` instant; ``memory_limit`` (bytes) bounds the
    cache of configurations. Either one reached gives ``"unknown"``. With ``want_order``
    a linearizable outcome carries the order found (positions in ``operations``).

    The linearized set is identified in the cache by its fingerprint: the XOR of one
    random 128-bit word per linearized operation, kept up to date as operations are
    linearized and restored, so a cache entry costs the same for a part of ten
    operations or of a million. Two different sets with the same fingerprint (odds
    about one in 10^38 per pair, 10^-25 for ten million configurations) could only
    prune a branch, so a linearizable verdict is always exact; a non-linearizable one
    is confirmed by a second search that uses the bitset itself (``exact=True``: the
    word of operation i is ``1 << i``) when the part has at most EXACT_CONFIRM_MAX
    operations (beyond that the bitsets make the confirmation cost many times the
    search, for odds that do not matter).
    """
    with paused_gc():
        outcome = _search(operations, step, init, deadline, memory_limit, want_order, exact)
        if outcome.valid is False and not exact and len(operations) <= EXACT_CONFIRM_MAX:
            confirmed = _search(operations, step, init, deadline, memory_limit, want_order,
                                True)
            return replace(confirmed, elapsed=outcome.elapsed + confirmed.elapsed)
        return outcome


def _search(operations: Sequence[Operation], step: Callable[[Any, Call], Any], init: Any,
            deadline: float | None, memory_limit: int | None, want_order: bool,
            exact: bool) -> SearchOutcome:
    started = time.monotonic()
    ok_ops = [o for o in operations if o.end is not None]
    info_ops = [o for o in operations if o.end is None]
    ordered = ok_ops + info_ops  # op id = index here: ok ops first, then info ops
    n, m = len(ordered), len(ok_ops)
    back_to_input = {id(o): i for i, o in enumerate(operations)}
    if m == 0:
        return SearchOutcome(True, elapsed=time.monotonic() - started,
                             order=() if want_order else None)

    # The linked list: calls are 0..n-1, returns n..2n-1, tail 2n, head 2n+1.
    events: list[tuple[int, int]] = []
    for i, o in enumerate(ordered):
        events.append((o.start, i))
        if o.end is not None:
            events.append((o.end, n + i))
    events.sort()
    tail, head = 2 * n, 2 * n + 1
    chain = [head] + [e for _, e in events] + [n + i for i in range(m, n)] + [tail]
    nxt = [0] * (2 * n + 2)
    prv = [0] * (2 * n + 2)
    for a, b in itertools.pairwise(chain):
        nxt[a] = b
        prv[b] = a
    position = [0] * (2 * n + 2)
    for pos, e in events:
        position[e] = pos
    calls = [o.call for o in ordered]
    read_only = [o.read_only for o in ordered]
    words: list[int] | _Bits
    if exact:
        words = _Bits()
    else:
        rng = random.Random(n)  # deterministic: same history, same search
        words = [rng.getrandbits(128) for _ in range(n)]

    limit = -1 if memory_limit is None else memory_limit
    cache: set[tuple[int, Any]] = set()
    add = cache.add
    size = 0
    stack: list[tuple[int, Any, int]] = []
    push, pop = stack.append, stack.pop
    state, linearized = init, 0
    info_start = n + m
    furthest, furthest_entry = -1, -1
    budget = CHECK_EVERY
    entry = nxt[head]
    illegal = ILLEGAL

    while True:
        if entry < n:
            new = step(state, calls[entry])
            if new is illegal:
                entry = nxt[entry]
                continue
            grown = linearized ^ words[entry]
            add((grown, new))
            if len(cache) != size:  # a new configuration
                size += 1
                push((entry, state, linearized))
                state, linearized = new, grown
                # lift the call entry and its return entry out of the list
                p, q = prv[entry], nxt[entry]
                nxt[p] = q
                prv[q] = p
                r = entry + n
                p, q = prv[r], nxt[r]
                nxt[p] = q
                prv[q] = p
                entry = nxt[head]
                budget -= 1
                if not budget:
                    budget = CHECK_EVERY
                    gave_up = _gave_up(deadline, limit, size, n, state, exact)
                    if gave_up:
                        return SearchOutcome("unknown", configurations=size, reason=gave_up,
                                             elapsed=time.monotonic() - started)
                continue
            if not read_only[entry]:
                entry = nxt[entry]
                continue
            # Linearizing this read-only operation now leads to a configuration already
            # explored without success: so does every other choice here.
        elif entry < info_start:
            # An ok operation returns here without having been linearized.
            if position[entry] > furthest:
                furthest, furthest_entry = position[entry], entry
        else:
            order = None
            if want_order:
                order = tuple(back_to_input[id(ordered[e])] for e, _, _ in stack)
            return SearchOutcome(True, configurations=size,
                                 elapsed=time.monotonic() - started, order=order)
        # Backtrack: restore the last linearized operation and try the next one after it;
        # past a read-only operation, backtrack further at once.
        while True:
            if not stack:
                if furthest_entry < 0:  # cannot happen: every failure starts at a return
                    raise AssertionError("search failed without reaching a return")
                stuck = back_to_input[id(ordered[furthest_entry - n])]
                return SearchOutcome(False, stuck=stuck, prefix_end=furthest,
                                     configurations=size,
                                     elapsed=time.monotonic() - started)
            entry, state, linearized = pop()
            # put the return entry back, then the call entry (reverse of lifting)
            r = entry + n
            p, q = prv[r], nxt[r]
            nxt[p] = r
            prv[q] = r
            p, q = prv[entry], nxt[entry]
            nxt[p] = entry
            prv[q] = entry
            if not read_only[entry]:
                break
        entry = nxt[entry]
        budget -= 1
        if not budget:
            budget = CHECK_EVERY
            gave_up = _gave_up(deadline, limit, size, n, state, exact)
            if gave_up:
                return SearchOutcome("unknown", configurations=size, reason=gave_up,
                                     elapsed=time.monotonic() - started)


def _gave_up(deadline: float | None, limit: int, cached: int, n: int, state: Any,
             exact: bool) -> str:
    if deadline is not None and time.monotonic() > deadline:
        return "time limit reached"
    if limit >= 0 and cached * cache_entry_bytes(n, state, exact=exact) > limit:
        return f"memory limit reached ({cached} configurations cached)"
    return ""
