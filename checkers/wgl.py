"""The linearizability search: Wing and Gong's algorithm with Lowe's improvements.

Input: the operations of one part of a history (see checkers/linearizable.py), each a
model :class:`~checkers.models.Call` with the positions of its invocation and, for an
``ok`` operation, its completion. The search keeps the *call* and *return* entries of
all operations in one doubly linked list in history order. The *candidates* of a
configuration (the set of linearized operations, a bitset kept as a 128-bit
fingerprint, see :func:`search`, and the model state) are the operations whose call
entries come before the first remaining return entry. The search linearizes one
candidate (the model's ``step`` must accept it); if the resulting configuration is new,
it records it in the cache, lifts the operation's call and return entries out of the
list and goes on from there. A configuration with no candidate left to try backtracks:
it restores the last lifted operation and tries the next candidate in its place. The
history is linearizable when every ``ok`` operation has been lifted.

A read-only operation (a read: one that never changes the state, in any state, the
model's ``is_read_only``) that is legal in a configuration goes first, alone: the
configuration succeeds exactly when the one with it linearized does (it can always be
linearized as early as it is legal), so when that one is explored without success, or
was already, the configuration fails without trying anything else. (Lowe's
just-in-time linearization for reads. Writes are tried in list order, earliest
invoked first: also trying the operation that returns next first halves the
configurations of single-register histories but doubles those of kv appends.)

An ``info`` operation (outcome unknown) may take effect at any time after its
invocation, or never: it is *optional*; its return entry sits after every ``ok`` return,
so the search succeeds as soon as only such entries remain. Two prunings keep optional
operations cheap, both sound because what they skip is no better than what the search
tries anyway: optional operations with equal calls are interchangeable, so only the
earliest invoked unused one of them is tried; and an optional operation that would
leave the state as it is would only use itself up. A *repeatable* optional operation
(a relaxation used to refute windows, checkers/refute.py) may take effect any number of
times: a free move between states, never lifted (the states reachable must be finite).

The search never hangs and never runs out of memory: it checks a deadline and the cache
size every few thousand steps and gives up with ``"unknown"``. As it moves on through a
long history, it forgets the configurations it has left behind (the cache has two
generations), so only a history that is hard, not merely long, reaches the limit.
When it stops making
progress (no configuration whose first return entry is further on for a while), it
asks ``on_stall`` whether the completion it is stuck at (the furthest one it could not
get past) can be proven impossible some cheaper way (checkers/refute.py does it from a
window of the history); if so, the answer is ``False`` at once, instead of backtracking
through the whole past first. It keeps the path (its linearization so far) at the
furthest point reached, for the counterexample.
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

CHECK_EVERY: Final = 4096  # search steps between deadline, cache-size and stall checks
EXACT_CONFIRM_MAX: Final = 4096  # parts up to this size get an exact confirmation
STALL_STEPS: Final = 16384  # steps without progress before on_stall is first asked

Step = Callable[[Any, Call], Any]
Frame = tuple[int, Any, int, "Frame | None"]  # one step of the search's path, see _search
StallHandler = Callable[[int], "int | None"]
"""``on_stall(stuck)``: ``stuck`` is the position (in the operations searched) of the
operation whose completion the search is stuck at; the answer is the history position
where a proof that no linearization gets past that completion starts, or None."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a part: its call, and where it starts and ends in the history.

    ``end`` is None for an optional operation: its outcome is unknown (``info``), it may
    take effect once after its invocation, or never. ``read_only`` says the operation
    never changes the state, whatever the state (the model's ``is_read_only``): it allows
    the prunings described in the module docstring. ``repeatable`` (optional operations
    only) lets it take effect any number of times: a relaxation, for refutations.
    """

    call: Call
    start: int
    end: int | None
    read_only: bool = False
    repeatable: bool = False


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """What the search found for one part.

    ``stuck`` (for ``valid is False``) is the position in ``operations`` of the
    operation whose completion no configuration could get past, at the furthest point
    the search reached; ``prefix_end`` is that completion's history position (every
    event of the part before it forms a linearizable prefix). ``refuted_from`` is set
    when ``on_stall`` proved it: the history position where its proof starts.
    """

    valid: bool | Literal["unknown"]
    stuck: int | None = None
    prefix_end: int | None = None
    configurations: int = 0
    reason: str = ""
    elapsed: float = 0.0
    order: tuple[int, ...] | None = None  # see search's want_order
    refuted_from: int | None = None


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
    """Each operation's word when the fingerprint is the exact bitset: bit i (none for a
    repeatable operation, which never counts as used up)."""

    __slots__ = ("repeatable",)

    def __init__(self, repeatable: Sequence[bool]) -> None:
        self.repeatable = repeatable

    def __getitem__(self, i: int) -> int:
        return 0 if self.repeatable[i] else 1 << i


def search(operations: Sequence[Operation], step: Step, init: Any, *,
           deadline: float | None = None, memory_limit: int | None = None,
           want_order: bool = False, exact: bool = False,
           starts: Sequence[Any] = (), on_stall: StallHandler | None = None
           ) -> SearchOutcome:
    """Decide whether the operations (one part, in invocation order) are linearizable.

    ``deadline`` is a ``time.monotonic()`` instant; ``memory_limit`` (bytes) bounds the
    cache of configurations. Either one reached gives ``"unknown"``. With ``want_order``
    a linearizable outcome carries the order found (positions in ``operations``), and a
    non-linearizable one the order of the longest prefix it linearized: everything that
    completed before ``prefix_end``, and some of what was still running.
    ``starts`` are further possible initial states besides ``init``: the operations are
    linearizable when they are from at least one (the searches share one cache).
    ``on_stall``: see the module docstring and :data:`StallHandler`.

    The linearized set is identified in the cache by its fingerprint: the XOR of one
    random 128-bit word per linearized operation, kept up to date as operations are
    linearized and restored, so a cache entry costs the same for a part of ten
    operations or of a million. Two different sets with the same fingerprint (odds
    about one in 10^38 per pair, 10^-25 for ten million configurations) could only
    prune a branch, so a linearizable verdict is always exact; a non-linearizable one
    is confirmed by a second search that uses the bitset itself (``exact=True``: the
    word of operation i is ``1 << i``) when the part has at most EXACT_CONFIRM_MAX
    operations (beyond that the bitsets make the confirmation cost many times the
    search, for odds that do not matter). A verdict from ``on_stall`` needs no
    confirmation: the search did reach the operation, and the proof is exact.
    """
    inits = list(dict.fromkeys([init, *starts]))
    with paused_gc():
        outcome = _search(operations, step, inits, deadline, memory_limit, want_order,
                          exact, on_stall)
        if (outcome.valid is False and outcome.refuted_from is None and not exact
                and len(operations) <= EXACT_CONFIRM_MAX):
            confirmed = _search(operations, step, inits, deadline, memory_limit,
                                want_order, True, on_stall)
            return replace(confirmed, elapsed=outcome.elapsed + confirmed.elapsed)
        return outcome


class _Watch:
    """The periodic checks of a search: deadline, cache size, and progress (stalls)."""

    def __init__(self, deadline: float | None, memory_limit: int | None, n: int,
                 exact: bool, on_stall: StallHandler | None) -> None:
        self.deadline = deadline
        self.limit = -1 if memory_limit is None else memory_limit
        self.n = n
        self.exact = exact
        self.on_stall = on_stall
        self.progress = -1
        self.stalled = 0
        self.forgot_at = -1
        self.stall_limit = STALL_STEPS

    def gave_up(self, cached: int, state: Any) -> str:
        """Why the search must stop now ("" to go on)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            return "time limit reached"
        if self.crowded(cached, state, 1):
            return f"memory limit reached ({cached} configurations cached)"
        return ""

    def crowded(self, cached: int, state: Any, share: float) -> bool:
        """Do ``cached`` entries take more than this share of the memory limit?"""
        return self.limit >= 0 and cached * cache_entry_bytes(
            self.n, state, exact=self.exact) > share * self.limit

    def may_forget(self, cached: int, state: Any, progress: int) -> bool:
        """Should the older generation of the cache go now? When the young one fills
        half the memory limit, if the search has moved on since the last time: what it
        forgets is then behind it (a search going round in one region instead stops at
        the memory limit, rather than exploring it again and again)."""
        if progress <= self.forgot_at or not self.crowded(cached, state, 0.5):
            return False
        self.forgot_at = progress
        return True

    def refuted(self, progress: int, stuck: int) -> int | None:
        """After CHECK_EVERY more steps: the start of a proof that the search cannot get
        past ``stuck`` (asked of on_stall once progress has stalled long enough)."""
        if progress > self.progress:
            self.progress, self.stalled = progress, 0
            return None
        self.stalled += CHECK_EVERY
        if self.on_stall is None or stuck < 0 or self.stalled < self.stall_limit:
            return None
        self.stalled = 0
        self.stall_limit *= 2  # ask less and less often: each answer costs time
        return self.on_stall(stuck)


def _search(operations: Sequence[Operation], step: Step, inits: Sequence[Any],
            deadline: float | None, memory_limit: int | None, want_order: bool,
            exact: bool, on_stall: StallHandler | None) -> SearchOutcome:
    started = time.monotonic()
    ok_ops = [o for o in operations if o.end is not None]
    optional_ops = sorted((o for o in operations if o.end is None), key=lambda o: o.start)
    ordered = ok_ops + optional_ops  # op id = index here: ok ops first, then optional ones
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
    # (a read that may take effect any number of times is a read that may take effect)
    repeatable = [o.repeatable and not o.read_only for o in ordered]
    # Optional operations with equal calls form a class; the used ones of a class are
    # always its earliest invoked ones (klass -1: an ok, read-only or repeatable one).
    klass = [-1] * n
    rank = [0] * n
    members: dict[Call, list[int]] = {}
    for i in range(m, n):
        if not repeatable[i] and not read_only[i]:
            same = members.setdefault(calls[i], [])
            klass[i] = klass[same[0]] if same else len(members) - 1
            rank[i] = len(same)
            same.append(i)
    used = [0] * len(members)
    words: list[int] | _Bits
    if exact:
        words = _Bits(repeatable)
    else:
        rng = random.Random(n)  # deterministic: same history, same search
        words = [0 if repeatable[i] else rng.getrandbits(128) for i in range(n)]

    watch = _Watch(deadline, memory_limit, n, exact, on_stall)
    # The cache of configurations explored, in two generations: when the young one fills
    # half the memory limit (and the search has moved on), the old one is forgotten and
    # the young one becomes old. (A forgotten configuration is only explored again; the
    # search still ends, as every path is finite: it linearizes one more operation at
    # each step. Not so with repeatable operations: such a search gives up at the memory
    # limit instead.)
    cache: set[tuple[int, Any]] = set()
    add = cache.add
    size = 0  # of the young generation
    older: set[tuple[int, Any]] = set()
    forgotten = 0  # configurations counted in generations before the young one
    can_forget = not any(repeatable)
    # The path: linked frames (op, state before it, linearized set before, the frame
    # before), so that the path at the furthest point can be kept for free.
    top: Frame | None = None
    furthest_top: Frame | None = None
    info_start = n + m
    furthest, furthest_entry = -1, -1
    progress = -1  # the furthest first return entry of a configuration so far
    budget = CHECK_EVERY
    illegal = ILLEGAL
    starts = iter(inits)
    state: Any = None
    linearized = 0
    scan = -1  # where a new configuration looks for a legal read (-1: no new one)
    entry = -1  # the next candidate to try (-1: none: backtrack)

    while True:
        if not budget:
            budget = CHECK_EVERY
            if can_forget and watch.may_forget(size, state, progress):
                forgotten += size
                older, cache, size = cache, set(), 0
                add = cache.add
            gave_up = watch.gave_up(size + len(older), state)
            if gave_up:
                return SearchOutcome("unknown", configurations=forgotten + size,
                                     reason=gave_up, elapsed=time.monotonic() - started)
            stuck = (-1 if furthest_entry < 0
                     else back_to_input[id(ordered[furthest_entry - n])])
            proof = watch.refuted(progress, stuck)
            if proof is not None:
                return SearchOutcome(
                    False, stuck=stuck, prefix_end=furthest,
                    configurations=forgotten + size, refuted_from=proof,
                    elapsed=time.monotonic() - started,
                    order=_order(furthest_top, ordered, back_to_input) if want_order else None)

        if scan >= 0:
            # A new configuration: a read-only operation legal now goes first, alone.
            e = scan
            scan = -1
            new: Any = None
            while e < n:
                if read_only[e]:
                    new = step(state, calls[e])
                    if new is not illegal:
                        break
                e = nxt[e]
            if e < n:
                grown = linearized ^ words[e]
                key = (grown, new)
                add(key)
                unseen = len(cache) != size
                if unseen:
                    size += 1
                    unseen = not (older and key in older)
                if not unseen:
                    entry = -1  # explored without success: so is this configuration
                else:
                    budget -= 1
                    top = (e, state, linearized, top)
                    state, linearized = new, grown
                    # The state is the same, so no read before this one is legal yet:
                    # the next configuration looks on from after it.
                    scan = nxt[e]
                    p = prv[e]
                    nxt[p] = scan
                    prv[scan] = p
                    r = e + n
                    if scan == r:
                        scan = nxt[r]
                    p, q = prv[r], nxt[r]
                    nxt[p] = q
                    prv[q] = p
                    continue
            elif e >= info_start:
                order = None
                if want_order:
                    order = _order(top, ordered, back_to_input)
                return SearchOutcome(True, configurations=forgotten + size,
                                     elapsed=time.monotonic() - started, order=order)
            else:
                if position[e] > progress:
                    progress = position[e]
                entry = nxt[head]  # then every other candidate, in list order

        if entry >= 0:
            while entry < n:
                if read_only[entry]:  # not legal here (else it would have gone first)
                    entry = nxt[entry]
                    continue
                if entry >= m:
                    c = klass[entry]
                    if c >= 0 and rank[entry] != used[c]:
                        entry = nxt[entry]
                        continue
                    new = step(state, calls[entry])
                    if new is illegal or new == state:
                        entry = nxt[entry]
                        continue
                else:
                    new = step(state, calls[entry])
                    if new is illegal:
                        entry = nxt[entry]
                        continue
                grown = linearized ^ words[entry]
                key = (grown, new)
                add(key)
                if len(cache) == size:
                    entry = nxt[entry]
                    continue
                size += 1
                if older and key in older:
                    entry = nxt[entry]
                    continue
                budget -= 1
                top = (entry, state, linearized, top)
                state, linearized = new, grown
                if entry >= m:
                    if repeatable[entry]:
                        scan = nxt[head]
                        break  # stays available: never lifted
                    used[klass[entry]] += 1
                p, q = prv[entry], nxt[entry]
                nxt[p] = q
                prv[q] = p
                r = entry + n
                p, q = prv[r], nxt[r]
                nxt[p] = q
                prv[q] = p
                scan = nxt[head]
                break
            if scan >= 0:
                continue
            # An ok operation returns here without having been linearized.
            if position[entry] > furthest:
                furthest, furthest_entry, furthest_top = position[entry], entry, top

        # Backtrack: restore the last linearized operation and try the next one after
        # it; past a read-only operation, backtrack further at once.
        while top is not None:
            budget -= 1
            entry, state, linearized, top = top
            if entry >= m:
                if repeatable[entry]:
                    break
                c = klass[entry]
                if c >= 0:
                    used[c] -= 1
            r = entry + n
            p, q = prv[r], nxt[r]
            nxt[p] = r
            prv[q] = r
            p, q = prv[entry], nxt[entry]
            nxt[p] = entry
            prv[q] = entry
            if not read_only[entry]:
                break
            if not budget:
                break
        else:
            # Start from the next initial state; none left: not linearizable.
            for state in starts:
                linearized = 0
                key = (0, state)
                add(key)
                if len(cache) != size:
                    size += 1
                    if not (older and key in older):
                        break
            else:
                if furthest_entry < 0:  # cannot happen: every failure starts at a return
                    raise AssertionError("search failed without reaching a return")
                return SearchOutcome(
                    False, stuck=back_to_input[id(ordered[furthest_entry - n])],
                    prefix_end=furthest, configurations=forgotten + size,
                    elapsed=time.monotonic() - started,
                    order=_order(furthest_top, ordered, back_to_input) if want_order else None)
            scan = nxt[head]
            entry = -1
            continue
        # (still past a read-only operation: the budget ran out; backtrack on after the
        # checks)
        entry = -1 if read_only[entry] else nxt[entry]



def _order(top: Frame | None, ordered: Sequence[Operation], back_to_input: dict[int, int]
           ) -> tuple[int, ...]:
    """The operations of a path, first linearized first (positions in the input)."""
    path = []
    while top is not None:
        path.append(back_to_input[id(ordered[top[0]])])
        top = top[3]
    return tuple(reversed(path))
