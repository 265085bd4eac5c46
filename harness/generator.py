"""Generators: pure, seeded descriptions of what each process does next.

A generator is an immutable value with two methods, as in Jepsen:

``op(ctx)`` answers one of
  - ``None``: exhausted, it will never emit again;
  - ``(op, next)``: ``op`` is a dict with at least ``"f"`` and ``"value"`` (maybe ``"key"``),
    filled in with ``"process"`` (a free process) and ``"time"`` (ns since the test
    started: when it should happen, possibly in the future); ``next`` is the generator
    to use once ``op`` has been emitted;
  - ``(pending, next)``: nothing now (every thread busy, or waiting for time to pass);
    ``pending.until`` optionally says when asking again can help.

``update(ctx, event)`` returns the generator after an event (an invocation or a
completion, as :class:`harness.op.Op`) happened.

Interpreters (:func:`interpret`, used by :func:`simulate` and by the runner) follow
two rules that keep generators free of side effects: an op answer's ``next`` is adopted
only when the op is emitted (an op due in the future is not emitted yet: the
interpreter waits, handles completions meanwhile, and asks again); a pending answer's
``next`` is adopted (it may have noted when it started waiting). So a combinator whose
children answered pending while another offered an op due later answers pending until
that op's time, keeping the children's new states. Randomness comes only
from ``ctx.rng``, seeded from the test's seed, so the plan is a function of the seed and
the order of events: under :func:`simulate`'s fake clock, same seed, same plan.

Anything generator-like is lifted with :func:`lift`: a dict is emitted once, a callable
of the context is called for each op (until it returns ``None``), ``None`` is empty, a
list or tuple is a :func:`seq`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol, cast

from harness.op import COMPLETION_TYPES, NEMESIS, Op, OpType, Process

Thread = int | str
"""A worker slot: client threads are 0..C-1, the nemesis thread is ``"nemesis"``."""

OpDict = dict[str, Any]

NS_PER_S: Final = 1_000_000_000

# Fields of an emitted op dict that map onto Op fields; anything else goes to Op.extra.
_OP_FIELDS: Final = frozenset({"f", "value", "key", "process", "time", "node", "error", "type"})


def seconds_to_ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


@dataclass(frozen=True, slots=True)
class Pending:
    """Nothing to emit now. ``until``: the time (ns) at which asking again can help,
    unless an op completes first; ``None`` means only a completion can help."""

    until: int | None = None


PENDING: Final = Pending()


def is_pending(x: object) -> bool:
    """True for any pending answer (``PENDING`` or a ``Pending(until=...)``)."""
    return isinstance(x, Pending)


def _sooner(a: Pending, b: Pending) -> Pending:
    if a.until is None:
        return b
    if b.until is None:
        return a
    return a if a.until <= b.until else b


def _thread_key(t: Thread) -> tuple[int, int, str]:
    return (0, t, "") if isinstance(t, int) else (1, 0, t)


def sorted_threads(threads: Iterable[Thread]) -> list[Thread]:
    """Threads in their canonical order (deterministic whatever the set's order)."""
    try:
        return sorted(threads)
    except TypeError:  # client and named threads together
        return sorted(threads, key=_thread_key)


class Context(NamedTuple):
    """What a generator may look at: the time, the threads in scope and which of them are
    free, the process each thread currently runs, and the run's seeded rng.

    ``scopes`` memoizes which threads a predicate accepts (see :meth:`restrict`); like
    ``rng`` it is shared by every context of one run.

    Immutable. A NamedTuple rather than a frozen dataclass because the loop builds about
    ten contexts per op: a tuple is built three times faster (bench/run_throughput.py)."""

    time: int
    threads: frozenset[Thread]
    free: frozenset[Thread]
    workers: Mapping[Thread, Process]
    processes: Mapping[Process, Thread]
    rng: random.Random
    scopes: dict[Callable[[Thread], bool], frozenset[Thread]]

    @classmethod
    def initial(cls, threads: Iterable[Thread], rng: random.Random, time: int = 0) -> Context:
        ts = frozenset(threads)
        return cls(time, ts, ts, {t: t for t in ts}, {t: t for t in ts}, rng, {})

    def within(self, allowed: frozenset[Thread]) -> Context:
        """The same context seen by a generator that may only use ``allowed`` threads."""
        return Context(self.time, self.threads & allowed, self.free & allowed, self.workers,
                       self.processes, self.rng, self.scopes)

    def restrict(self, keep: Callable[[Thread], bool]) -> Context:
        """The same context seen by a generator that may only use threads ``keep`` accepts
        (``keep`` must be a pure function of the thread: its answers are memoized)."""
        allowed = self.scopes.get(keep)
        if allowed is None:
            allowed = self.scopes[keep] = frozenset(t for t in self.workers if keep(t))
        return self.within(allowed)

    def free_threads(self) -> list[Thread]:
        """The free threads in canonical order."""
        return sorted_threads(self.free)

    def free_process(self) -> Process | None:
        """A free process chosen with the rng, or None when every thread is busy."""
        free = self.free
        if not free:
            return None
        if len(free) == 1:
            for t in free:
                return self.workers[t]
        ordered = sorted_threads(free)
        return self.workers[ordered[self.rng.randrange(len(ordered))]]

    def thread_of(self, process: Process) -> Thread | None:
        return self.processes.get(process)

    def at(self, time: int) -> Context:
        return Context(time, self.threads, self.free, self.workers, self.processes, self.rng,
                       self.scopes)

    def busy(self, thread: Thread, time: int) -> Context:
        """The context after ``thread`` took an op at ``time``."""
        return Context(time, self.threads, self.free - {thread}, self.workers, self.processes,
                       self.rng, self.scopes)

    def freed(self, thread: Thread, time: int, process: Process) -> Context:
        """The context after ``thread`` finished its op at ``time``, now running ``process``."""
        workers, processes = self.workers, self.processes
        old = workers[thread]
        if old != process:
            workers = {**workers, thread: process}
            processes = {p: t for p, t in processes.items() if p != old}
            processes[process] = thread
        return Context(time, self.threads, self.free | {thread}, workers, processes, self.rng,
                       self.scopes)


Answer = tuple[OpDict | Pending, "Generator"] | None


class Generator(Protocol):
    """See the module docstring."""

    def op(self, ctx: Context) -> Answer: ...

    def update(self, ctx: Context, event: Op) -> Generator: ...


def _fill(template: Mapping[str, Any], process: Process, time: int) -> OpDict:
    op = dict(template)
    op.setdefault("value", None)
    op.setdefault("process", process)
    op.setdefault("time", time)
    return op


# --- basic generators -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nothing:
    """The exhausted generator."""

    def op(self, ctx: Context) -> Answer:
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


NOTHING: Final = Nothing()


@dataclass(frozen=True, slots=True)
class Once:
    template: Mapping[str, Any]

    def op(self, ctx: Context) -> Answer:
        p = ctx.free_process()
        if p is None:
            return PENDING, self
        return _fill(self.template, p, ctx.time), NOTHING

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


@dataclass(frozen=True, slots=True)
class Fn:
    fn: Callable[[Context], Mapping[str, Any] | None]

    def op(self, ctx: Context) -> Answer:
        p = ctx.free_process()
        if p is None:
            return PENDING, self
        template = self.fn(ctx)
        if template is None:
            return None
        return _fill(template, p, ctx.time), self

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def lift(x: Any) -> Generator:
    """A generator from anything generator-like (see module docstring)."""
    if x is None:
        return NOTHING
    if isinstance(x, Mapping):
        return Once(x)
    if hasattr(x, "op") and hasattr(x, "update"):
        return x
    if isinstance(x, list | tuple):
        return seq(*x)
    if callable(x):
        return Fn(x)
    raise TypeError(f"not a generator: {x!r}")


def once(op: Mapping[str, Any]) -> Generator:
    """Emit ``op`` once."""
    return Once(op)


def fn(f: Callable[[Context], Mapping[str, Any] | None]) -> Generator:
    """Call ``f(ctx)`` for each op; it returns an op dict, or None when done."""
    return Fn(f)


# --- repetition and sequencing ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repeat:
    gen: Generator
    remaining: int | None  # None: forever

    def op(self, ctx: Context) -> Answer:
        if self.remaining == 0:
            return None
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        o, _ = answer
        if isinstance(o, Pending):
            return o, self
        left = None if self.remaining is None else self.remaining - 1
        return o, Repeat(self.gen, left)

    def update(self, ctx: Context, event: Op) -> Generator:
        g = self.gen.update(ctx, event)
        return self if g is self.gen else Repeat(g, self.remaining)


def repeat(gen: Any, times: int | None = None) -> Generator:
    """Emit the first op of ``gen`` again and again (``times`` times, or forever)."""
    if times is not None and times < 0:
        raise ValueError("repeat: times must be >= 0")
    return Repeat(lift(gen), times)


@dataclass(frozen=True, slots=True)
class Seq:
    gens: tuple[Generator, ...]  # gens[0] is the current phase

    def op(self, ctx: Context) -> Answer:
        gens = self.gens
        while gens:
            answer = gens[0].op(ctx)
            if answer is not None:
                o, nxt = answer
                if nxt is gens[0] and gens is self.gens:
                    return o, self
                return o, Seq((nxt, *gens[1:]))
            gens = gens[1:]
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        if not self.gens:
            return self
        g = self.gens[0].update(ctx, event)
        return self if g is self.gens[0] else Seq((g, *self.gens[1:]))


def seq(*gens: Any) -> Generator:
    """Each generator in turn: the next starts when the previous is exhausted."""
    return Seq(tuple(lift(g) for g in gens))


@dataclass(frozen=True, slots=True)
class Cycle:
    start: Generator
    current: Generator

    def op(self, ctx: Context) -> Answer:
        answer = self.current.op(ctx)
        if answer is None:
            answer = self.start.op(ctx)
            if answer is None:
                return None  # an empty cycle
        o, nxt = answer
        return o, Cycle(self.start, nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        g = self.current.update(ctx, event)
        return self if g is self.current else Cycle(self.start, g)


def cycle(*gens: Any) -> Generator:
    """The generators in turn, then again from the first, forever."""
    start = seq(*gens)
    return Cycle(start, start)


@dataclass(frozen=True, slots=True)
class Synchronize:
    gen: Generator

    def op(self, ctx: Context) -> Answer:
        if len(ctx.free) < len(ctx.threads):
            return PENDING, self
        return self.gen.op(ctx)  # once every thread is free, it is just gen

    def update(self, ctx: Context, event: Op) -> Generator:
        g = self.gen.update(ctx, event)
        return self if g is self.gen else Synchronize(g)


def synchronize(gen: Any) -> Generator:
    """Wait until every thread in scope is free, then behave as ``gen``."""
    return Synchronize(lift(gen))


def phases(*gens: Any) -> Generator:
    """Like :func:`seq`, but each phase waits for the previous phase's ops to complete."""
    return seq(*(synchronize(g) for g in gens))


# --- choice and combination ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mix:
    gens: tuple[Generator, ...]
    weights: tuple[float, ...] | None
    chosen: int | None  # the generator the next op comes from; None: not drawn yet

    def _draw(self, rng: random.Random, n: int) -> int:
        if self.weights is None:
            return rng.randrange(n) if n > 1 else 0
        return rng.choices(range(n), weights=self.weights)[0]

    def op(self, ctx: Context) -> Answer:
        gens, weights = self.gens, self.weights
        mix = self
        while gens:
            i = mix.chosen if mix.chosen is not None else mix._draw(ctx.rng, len(gens))
            answer = gens[i].op(ctx)
            if answer is None:  # drop the exhausted generator and draw again
                gens = gens[:i] + gens[i + 1:]
                weights = None if weights is None else weights[:i] + weights[i + 1:]
                mix = Mix(gens, weights, None)
                continue
            o, nxt = answer
            if isinstance(o, Pending):
                if nxt is gens[i] and mix is self and self.chosen == i:
                    return o, self
                return o, Mix((*gens[:i], nxt, *gens[i + 1:]), weights, i)
            rest = (*gens[:i], nxt, *gens[i + 1:])
            return o, Mix(rest, weights, mix._draw(ctx.rng, len(gens)))
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def mix(gens: Sequence[Any], weights: Sequence[float] | None = None) -> Generator:
    """Each op from one of ``gens`` drawn at random (uniformly, or by ``weights``)."""
    lifted = tuple(lift(g) for g in gens)
    if weights is not None:
        if len(weights) != len(lifted) or any(w < 0 for w in weights) or not any(weights):
            raise ValueError("mix: one non-negative weight per generator, not all zero")
        return Mix(lifted, tuple(float(w) for w in weights), None)
    return Mix(lifted, None, None)


@dataclass(frozen=True, slots=True)
class AnyOf:
    gens: tuple[Generator, ...]

    def op(self, ctx: Context) -> Answer:
        best: OpDict | None = None
        best_i = -1
        best_next: Generator | None = None
        pending: Pending | None = None
        gens = list(self.gens)
        for i, g in enumerate(self.gens):
            answer = g.op(ctx)
            if answer is None:
                continue
            o, nxt = answer
            if isinstance(o, Pending):
                gens[i] = nxt  # a pending answer's next is adopted
                pending = o if pending is None else _sooner(pending, o)
            elif best is None or o["time"] < best["time"]:
                best, best_i, best_next = o, i, nxt
                if o["time"] <= ctx.time:
                    break  # due now: nothing can be sooner
        if best is not None and pending is not None and best["time"] > ctx.time:
            # Emitting a future op would drop the pending children's new states (a
            # sleep's start): wait for the op's time with those states kept instead.
            return _sooner(pending, Pending(best["time"])), AnyOf(tuple(gens))
        if best is not None:
            assert best_next is not None
            gens[best_i] = best_next
            return best, AnyOf(tuple(gens))
        if pending is not None:
            if all(a is b for a, b in zip(gens, self.gens, strict=True)):
                return pending, self
            return pending, AnyOf(tuple(gens))
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        gens = tuple(g.update(ctx, event) for g in self.gens)
        return self if all(a is b for a, b in zip(gens, self.gens, strict=True)) else AnyOf(gens)


def any_of(*gens: Any) -> Generator:
    """All generators at once: each op is the soonest any of them offers."""
    return AnyOf(tuple(lift(g) for g in gens))


@dataclass(frozen=True, slots=True)
class OnThreads:
    keep: Callable[[Thread], bool]
    gen: Generator

    def op(self, ctx: Context) -> Answer:
        answer = self.gen.op(ctx.restrict(self.keep))
        if answer is None:
            return None
        o, nxt = answer
        return o, (self if nxt is self.gen else OnThreads(self.keep, nxt))

    def update(self, ctx: Context, event: Op) -> Generator:
        thread = ctx.thread_of(event.process)
        if thread is None or not self.keep(thread):
            return self
        g = self.gen.update(ctx.restrict(self.keep), event)
        return self if g is self.gen else OnThreads(self.keep, g)


def is_client_thread(thread: Thread) -> bool:
    return isinstance(thread, int)


def is_nemesis_thread(thread: Thread) -> bool:
    return thread == NEMESIS


def on_threads(keep: Callable[[Thread], bool], gen: Any) -> Generator:
    """``gen`` restricted to the threads ``keep`` accepts (and their events)."""
    return OnThreads(keep, lift(gen))


def clients(gen: Any) -> Generator:
    """``gen`` on the client threads only."""
    return OnThreads(is_client_thread, lift(gen))


def nemesis(gen: Any) -> Generator:
    """``gen`` on the nemesis thread only."""
    return OnThreads(is_nemesis_thread, lift(gen))


def split(client_gen: Any, nemesis_gen: Any) -> Generator:
    """Client ops from ``client_gen`` and nemesis ops from ``nemesis_gen``, together."""
    return any_of(clients(client_gen), nemesis(nemesis_gen))


@dataclass(frozen=True, slots=True)
class EachProcess:
    fresh: Generator
    gens: Mapping[Process, Generator]

    def op(self, ctx: Context) -> Answer:
        best: OpDict | None = None
        best_p: Process | None = None
        best_next: Generator | None = None
        pending: Pending | None = None
        gens = dict(self.gens)
        for t in ctx.free_threads():
            p = ctx.workers[t]
            answer = gens.get(p, self.fresh).op(ctx.within(frozenset((t,))))
            if answer is None:
                continue
            o, nxt = answer
            if isinstance(o, Pending):
                gens[p] = nxt
                pending = o if pending is None else _sooner(pending, o)
            elif best is None or o["time"] < best["time"]:
                best, best_p, best_next = o, p, nxt
                if o["time"] <= ctx.time:
                    break  # due now: nothing can be sooner
        if best is not None and pending is not None and best["time"] > ctx.time:
            return _sooner(pending, Pending(best["time"])), EachProcess(self.fresh, gens)
        if best is not None:
            assert best_next is not None and best_p is not None
            gens[best_p] = best_next
            return best, EachProcess(self.fresh, gens)
        if pending is not None:
            return pending, EachProcess(self.fresh, gens)
        if len(ctx.free) < len(ctx.threads):
            return PENDING, EachProcess(self.fresh, gens)  # busy processes may emit later
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        g = self.gens.get(event.process)
        if g is None:
            return self
        g2 = g.update(ctx, event)
        return self if g2 is g else EachProcess(self.fresh, {**self.gens, event.process: g2})


def each_process(gen: Any) -> Generator:
    """Every process runs its own copy of ``gen`` (a process that replaces a crashed one
    starts a fresh copy)."""
    fresh = lift(gen)
    return EachProcess(fresh, {})


@dataclass(frozen=True, slots=True)
class UntilOk:
    gen: Generator
    active: frozenset[Process] = frozenset()
    done: bool = False

    def op(self, ctx: Context) -> Answer:
        if self.done:
            return None
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        o, nxt = answer
        if isinstance(o, Pending):
            return o, (self if nxt is self.gen else UntilOk(nxt, self.active))
        return o, UntilOk(nxt, self.active | {o["process"]})

    def update(self, ctx: Context, event: Op) -> Generator:
        gen = self.gen.update(ctx, event)
        if event.is_completion and event.process in self.active:
            return UntilOk(gen, self.active - {event.process}, self.done or event.type == "ok")
        return self if gen is self.gen else UntilOk(gen, self.active, self.done)


def until_ok(gen: Any) -> Generator:
    """Ops from ``gen`` until one of them completes ``ok``."""
    return UntilOk(lift(gen))


@dataclass(frozen=True, slots=True)
class MapOps:
    f: Callable[[OpDict], OpDict]
    gen: Generator

    def op(self, ctx: Context) -> Answer:
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        o, nxt = answer
        return (o if isinstance(o, Pending) else self.f(o)), MapOps(self.f, nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        g = self.gen.update(ctx, event)
        return self if g is self.gen else MapOps(self.f, g)


def map_ops(f: Callable[[OpDict], OpDict], gen: Any) -> Generator:
    """``gen`` with ``f`` applied to every op it emits."""
    return MapOps(f, lift(gen))


# --- counting and time -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    remaining: int
    gen: Generator

    def op(self, ctx: Context) -> Answer:
        if self.remaining <= 0:
            return None
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        o, nxt = answer
        if isinstance(o, Pending):
            return o, (self if nxt is self.gen else Limit(self.remaining, nxt))
        return o, Limit(self.remaining - 1, nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        g = self.gen.update(ctx, event)
        return self if g is self.gen else Limit(self.remaining, g)


def limit(n: int, gen: Any) -> Generator:
    """At most ``n`` ops from ``gen``."""
    if n < 0:
        raise ValueError("limit: n must be >= 0")
    return Limit(n, lift(gen))


@dataclass(frozen=True, slots=True)
class TimeLimit:
    duration: int  # ns
    cutoff: int | None  # set when first asked
    gen: Generator

    def op(self, ctx: Context) -> Answer:
        cutoff = self.cutoff if self.cutoff is not None else ctx.time + self.duration
        if ctx.time >= cutoff:
            return None
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        o, nxt = answer
        if isinstance(o, Pending):
            same = nxt is self.gen and cutoff == self.cutoff
            return _sooner(o, Pending(cutoff)), (self if same
                                                  else TimeLimit(self.duration, cutoff, nxt))
        if o["time"] >= cutoff:
            return None
        return o, TimeLimit(self.duration, cutoff, nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        g = self.gen.update(ctx, event)
        return self if g is self.gen else TimeLimit(self.duration, self.cutoff, g)


def time_limit(seconds: float, gen: Any) -> Generator:
    """Ops from ``gen`` until ``seconds`` after it was first asked."""
    if seconds < 0:
        raise ValueError("time_limit: seconds must be >= 0")
    return TimeLimit(seconds_to_ns(seconds), None, lift(gen))


@dataclass(frozen=True, slots=True)
class Paced:
    interval: int  # ns
    jittered: bool  # True: each gap uniform in [0, 2*interval)
    next_time: int | None
    gen: Generator

    def op(self, ctx: Context) -> Answer:
        answer = self.gen.op(ctx)
        if answer is None:
            return None
        o, nxt = answer
        if isinstance(o, Pending):
            return o, (self if nxt is self.gen
                       else Paced(self.interval, self.jittered, self.next_time, nxt))
        at = o["time"] if self.next_time is None else max(o["time"], self.next_time)
        if at != o["time"]:
            o = {**o, "time": at}
        gap = self.interval
        if self.jittered and gap:
            gap = int(ctx.rng.random() * 2 * gap)
        return o, Paced(self.interval, self.jittered, at + gap, nxt)

    def update(self, ctx: Context, event: Op) -> Generator:
        g = self.gen.update(ctx, event)
        return self if g is self.gen else Paced(self.interval, self.jittered, self.next_time, g)


def stagger(seconds: float, gen: Any) -> Generator:
    """Ops from ``gen`` spaced by random gaps, uniform in [0, 2*seconds): on average one
    op per ``seconds`` across all threads (``stagger(1/rate, gen)`` gives ``rate`` ops/s)."""
    if seconds < 0:
        raise ValueError("stagger: seconds must be >= 0")
    return Paced(seconds_to_ns(seconds), True, None, lift(gen))


def delay(seconds: float, gen: Any) -> Generator:
    """Ops from ``gen`` exactly ``seconds`` apart (or later, when threads are busy)."""
    if seconds < 0:
        raise ValueError("delay: seconds must be >= 0")
    return Paced(seconds_to_ns(seconds), False, None, lift(gen))


@dataclass(frozen=True, slots=True)
class Sleep:
    duration: int  # ns
    jitter: float
    until: int | None  # set when first asked

    def op(self, ctx: Context) -> Answer:
        until = self.until
        if until is None:
            d = self.duration
            if self.jitter:
                d = int(d * (1 - self.jitter + 2 * self.jitter * ctx.rng.random()))
            until = ctx.time + d
        if ctx.time >= until:
            return None
        return Pending(until), Sleep(self.duration, self.jitter, until)

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def sleep(seconds: float, jitter: float = 0.0) -> Generator:
    """Emit nothing for ``seconds`` after first asked (then exhausted). With ``jitter`` j,
    the pause is uniform in [seconds*(1-j), seconds*(1+j))."""
    if seconds < 0 or not 0 <= jitter <= 1:
        raise ValueError("sleep: seconds must be >= 0 and jitter in [0, 1]")
    return Sleep(seconds_to_ns(seconds), jitter, None)


# --- independent keys ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndependentKeys:
    make: Callable[[int], Generator]
    group_size: int
    next_key: int
    members: tuple[frozenset[Thread], ...]  # the thread groups; () until first asked
    groups: tuple[tuple[int, Generator], ...]  # per thread group: (key, gen)

    def _with(self, next_key: int, members: tuple[frozenset[Thread], ...],
              groups: list[tuple[int, Generator]] | tuple[tuple[int, Generator], ...]
              ) -> IndependentKeys:
        return IndependentKeys(self.make, self.group_size, next_key, members, tuple(groups))

    def op(self, ctx: Context) -> Answer:
        members = self.members
        if not ctx.free and members and len(self.groups) == len(members):
            return PENDING, self  # every group busy: nothing to ask, nothing changes
        if not members:
            ts = sorted_threads(ctx.threads)
            n = self.group_size
            members = tuple(frozenset(ts[i:i + n]) for i in range(0, len(ts), n))
        next_key = self.next_key
        groups = list(self.groups)
        while len(groups) < len(members):
            groups.append((next_key, self.make(next_key)))
            next_key += 1
        best: OpDict | None = None
        best_i = -1
        best_group: tuple[int, Generator] | None = None
        pending: Pending | None = None
        free = ctx.free
        for i, group in enumerate(members):
            if free.isdisjoint(group):
                pending = pending or PENDING
                continue
            sub = ctx.within(group)
            key, g = groups[i]
            answer = g.op(sub)
            if answer is None:  # this key is done: the group moves on to a fresh key
                key, g = next_key, self.make(next_key)
                next_key += 1
                groups[i] = (key, g)
                answer = g.op(sub)
                if answer is None:
                    continue
            o, nxt = answer
            if isinstance(o, Pending):
                if nxt is not g:
                    groups[i] = (key, nxt)
                pending = o if pending is None else _sooner(pending, o)
            elif best is None or o["time"] < best["time"]:
                best, best_i, best_group = o, i, (key, nxt)
                if o["time"] <= ctx.time:
                    break  # due now: nothing can be sooner
        if best is not None and pending is not None and best["time"] > ctx.time:
            return _sooner(pending, Pending(best["time"])), self._with(next_key, members, groups)
        if best is not None:
            assert best_group is not None
            groups[best_i] = best_group
            return {**best, "key": best_group[0]}, self._with(next_key, members, groups)
        if pending is not None:
            unchanged = (members is self.members and next_key == self.next_key
                         and len(groups) == len(self.groups)
                         and all(a is b for a, b in zip(groups, self.groups, strict=True)))
            if unchanged:
                return pending, self
            return pending, self._with(next_key, members, groups)
        return None

    def update(self, ctx: Context, event: Op) -> Generator:
        thread = ctx.thread_of(event.process)
        for i, group in enumerate(self.members):
            if thread in group:
                if i >= len(self.groups):
                    return self
                key, g = self.groups[i]
                if event.key is not None and event.key != key:
                    return self  # a late completion of the group's previous key
                g2 = g.update(ctx.within(group), event)
                if g2 is g:
                    return self
                groups = (*self.groups[:i], (key, g2), *self.groups[i + 1:])
                return self._with(self.next_key, self.members, groups)
        return self


def independent_keys(group_size: int, make: Callable[[int], Any]) -> Generator:
    """Jepsen's independent pattern: threads in groups of ``group_size``; each group works
    on one key (0, 1, 2, ...) with ``make(key)``, and takes a fresh key when that
    generator is exhausted. Emitted ops carry ``"key"``."""
    if group_size < 1:
        raise ValueError("independent_keys: group_size must be >= 1")
    return IndependentKeys(lambda k: lift(make(k)), group_size, 0, (), ())


# --- interpreting ----------------------------------------------------------------------


class Executor(Protocol):
    """Where an interpreter's ops run: a fake clock for :func:`simulate`, worker threads
    for the runner. The executor records history: ``dispatch`` records the invocation
    (stamped with its index and time) before starting it; a completion is recorded
    before it is returned."""

    def now(self) -> int: ...

    def dispatch(self, thread: Thread, invocation: Op) -> Op:
        """Record and start ``invocation``; returns it as recorded (index, time)."""
        ...

    def next_completion(self, deadline: int | None) -> tuple[Thread, Op] | None:
        """The next completion (already recorded), waiting at most until ``deadline`` (ns;
        None: until one arrives); None when the deadline passed first. It may also return
        None sooner: a real executor waits in short slices, so that the loop (and, in the
        main thread, Python's signal handlers) runs at least a few times a second."""
        ...


def to_invocation(o: Mapping[str, Any]) -> Op:
    """The invocation Op for an emitted op dict (its ``time`` is the schedule, dropped)."""
    extra = {} if _OP_FIELDS.issuperset(o) else {
        k: v for k, v in o.items() if k not in _OP_FIELDS}
    return Op(o["process"], "invoke", o["f"], o.get("value"), -1, -1, o.get("key"),
              o.get("node"), None, extra)


@dataclass(frozen=True, slots=True)
class InterpretResult:
    invocations: int
    completions: int
    stopped: bool  # True when ``should_stop`` (or ``max_time``) ended generation early
    generator: Generator = field(repr=False)
    in_flight: int = 0  # ops left in flight: only after a stop, past ``stop_grace_ns``


def interpret(gen: Any, executor: Executor, threads: Iterable[Thread], seed: int, *,
              should_stop: Callable[[], bool] = lambda: False,
              poll_ns: int = 10_000_000, max_time: int | None = None,
              stop_grace_ns: int | None = None) -> InterpretResult:
    """Drive ``gen`` to exhaustion against ``executor``: the one run loop.

    Processes that end an op ``info`` are replaced (process + number of client threads).
    When ``should_stop()`` turns true, or the clock passes ``max_time``, generation stops
    and the loop only waits for in-flight ops to complete; after a stop, for at most
    ``stop_grace_ns`` when given (ops still in flight then are the executor's to settle:
    the result counts them). ``should_stop`` is asked on every turn of the loop, and a
    real executor turns it several times a second however long the ops take."""
    g = lift(gen)
    clock, next_completion = executor.now, executor.next_completion
    ctx = Context.initial(threads, random.Random(seed), clock())
    n_clients = sum(1 for t in ctx.threads if isinstance(t, int))
    outstanding = 0
    invocations = completions = 0
    stopped = False
    give_up_at: int | None = None  # after a stop: when to stop waiting for in-flight ops

    def complete(thread: Thread, c: Op) -> None:
        nonlocal ctx, g, outstanding, completions
        if thread in ctx.free:  # the executor broke its contract: one completion per op
            raise RuntimeError(f"a completion for thread {thread!r}, which has no op in "
                               f"flight: {c!r}")
        outstanding -= 1
        completions += 1
        process = ctx.workers[thread]
        if c.type == "info" and isinstance(process, int):
            process += n_clients
        ctx = ctx.freed(thread, c.time if c.time >= 0 else clock(), process)
        g = g.update(ctx, c)

    while True:
        ctx = ctx.at(clock())
        if not stopped:
            if should_stop():
                stopped = True
                if stop_grace_ns is not None:
                    give_up_at = ctx.time + stop_grace_ns
            elif max_time is not None and ctx.time >= max_time:
                stopped = True
        answer = None if stopped else g.op(ctx)
        if answer is None:
            if outstanding == 0 or (give_up_at is not None and ctx.time >= give_up_at):
                return InterpretResult(invocations, completions, stopped, g, outstanding)
            got = next_completion(give_up_at)
            if got is not None:
                complete(*got)
            continue
        o, nxt = answer
        now = ctx.time
        if isinstance(o, Pending):
            g = nxt
            if o.until is None or o.until <= now:  # a past "until" must not spin the loop
                wake = now + poll_ns
            else:
                wake = min(o.until, now + poll_ns * 100)
            if max_time is not None:
                wake = min(wake, max(max_time, now))
            got = next_completion(wake)
            if got is not None:
                complete(*got)
            continue
        if o["time"] > now:
            got = next_completion(o["time"])
            if got is not None:
                complete(*got)
            continue  # ask again: the answer may have changed
        thread = ctx.thread_of(o["process"])
        if thread is None or thread not in ctx.free:
            raise RuntimeError(f"generator emitted an op for a busy or unknown process: {o!r}")
        invocation = executor.dispatch(thread, to_invocation(o))
        invocations += 1
        outstanding += 1
        g = nxt
        ctx = ctx.busy(thread, invocation.time if invocation.time >= 0 else now)
        g = g.update(ctx, invocation)


# --- simulation ------------------------------------------------------------------------

Respond = Callable[[Op, random.Random], tuple[str, Any, float]]
"""A fake database: (invocation, rng) -> (completion type, value, latency in seconds)."""


def ok_after(latency_s: float = 0.0) -> Respond:
    """Every op completes ok with its own value after ``latency_s``."""
    return lambda op, rng: ("ok", op.value, latency_s)


class _FakeExecutor:
    """Runs ops on a fake clock: each completes as ``respond`` says, after its latency."""

    def __init__(self, respond: Respond, rng: random.Random) -> None:
        self.respond, self.rng = respond, rng
        self.clock = 0
        self.history: list[Op] = []
        self._queue: list[tuple[int, int, Thread, Op]] = []
        self._seq = itertools.count()

    def now(self) -> int:
        return self.clock

    def _record(self, o: Op) -> Op:
        # Op(...) directly: dataclasses.replace is several times slower.
        op = Op(o.process, o.type, o.f, o.value, self.clock, len(self.history), o.key, o.node,
                o.error, o.extra)
        self.history.append(op)
        return op

    def dispatch(self, thread: Thread, invocation: Op) -> Op:
        inv = self._record(invocation)
        type_, value, latency = self.respond(inv, self.rng)
        if type_ not in COMPLETION_TYPES:
            raise ValueError(f"simulate: respond gave type {type_!r}, not one of "
                             f"{', '.join(COMPLETION_TYPES)}")
        done = Op(inv.process, cast(OpType, type_), inv.f, value, inv.time, -1, inv.key,
                  inv.node, inv.error, inv.extra)
        at = self.clock + max(0, seconds_to_ns(latency))
        heapq.heappush(self._queue, (at, next(self._seq), thread, done))
        return inv

    def next_completion(self, deadline: int | None) -> tuple[Thread, Op] | None:
        if self._queue and (deadline is None or self._queue[0][0] <= deadline):
            at, _, thread, done = heapq.heappop(self._queue)
            self.clock = max(self.clock, at)
            return thread, self._record(done)
        if deadline is None:
            raise RuntimeError("simulate: waiting for a completion with nothing in flight")
        self.clock = max(self.clock, deadline)
        return None


def simulate(gen: Any, *, concurrency: int = 2, nemesis: bool = True, seed: int = 0,
             respond: Respond | None = None, max_time_s: float = 3600.0,
             max_ops: int = 1_000_000) -> list[Op]:
    """Run ``gen`` on a fake clock with ``concurrency`` client threads (and the nemesis
    thread) and return the history. Ops complete as ``respond`` says (default: ok,
    instantly). Same seed, same history. Stops generating at ``max_time_s`` of fake time
    or after ``max_ops`` invocations."""
    rng = random.Random(f"simulate-db:{seed}")
    executor = _FakeExecutor(respond or ok_after(0.0), rng)
    threads: list[Thread] = list(range(concurrency))
    if nemesis:
        threads.append(NEMESIS)
    interpret(gen, executor, threads, seed,
              should_stop=lambda: len(executor.history) >= 2 * max_ops,
              max_time=seconds_to_ns(max_time_s) if math.isfinite(max_time_s) else None)
    return executor.history


__all__ = [
    "NOTHING",
    "PENDING",
    "Context",
    "Executor",
    "Generator",
    "Pending",
    "Thread",
    "any_of",
    "clients",
    "cycle",
    "delay",
    "each_process",
    "fn",
    "independent_keys",
    "interpret",
    "is_pending",
    "lift",
    "limit",
    "map_ops",
    "mix",
    "nemesis",
    "ok_after",
    "on_threads",
    "once",
    "phases",
    "repeat",
    "seq",
    "simulate",
    "sleep",
    "split",
    "stagger",
    "synchronize",
    "time_limit",
    "until_ok",
]
