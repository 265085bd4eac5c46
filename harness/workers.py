"""Workers: one OS thread per logical process, each driving a client (or the nemesis).

The run loop (:func:`harness.generator.interpret`) hands an invocation to a thread's
worker through :class:`WorkerPool`, which is the loop's executor. A worker calls its
client and turns the outcome into a completion, Jepsen's way:

- the client's own completion, if it keeps the process and ``f`` and has a legal type
  (anything else is recorded as ``info`` naming what was wrong);
- :class:`harness.client.DefiniteError` -> ``fail`` (it certainly did not happen);
- any other exception -> ``info`` (it may or may not have happened);
- no answer within the op timeout -> ``info`` ("timeout"): the pool records it, abandons
  the stuck thread and starts a fresh one for that slot.

After an ``info`` the slot continues as a new process with a new client, opened on the
same node. Clients are spread over the nodes round-robin (thread i on node i mod n) or
all pinned to one node.

Only the loop's thread records: invocations when they are dispatched, completions as
the loop takes them (their time is when the loop saw them, so an op's recorded interval
contains its real one and index order is time order, as in Jepsen). An op that times
out is recorded as ``info`` at once; its late answer is dropped. Every invocation gets
exactly one completion: when the pool closes with ops still in flight (the run was
interrupted, or failed), they are recorded then, ``info`` (or ``fail`` for an op that
never reached its worker).

The loop never blocks for long. Its thread is the main thread, and Python runs signal
handlers only there, between bytecodes: a wait with no timeout (or a two-minute one, for
a stuck nemesis op) would keep SIGINT/SIGTERM from taking effect, and the run from
stopping. So :meth:`WorkerPool.next_completion` waits at most :data:`WAIT_SLICE_S` at a
time and may return None early; the loop then looks at its stop flag and asks again.

A stuck nemesis call is never joined by another: while the call of a timed-out nemesis
op still runs (in its abandoned thread), new nemesis ops complete at once as ``fail``
("nemesis busy"): they did not run. Two threads inside one nemesis at once could undo
each other's faults, and each new call would only queue behind the stuck one.

Throughput. Python threads share one interpreter lock (the GIL), so a hand-off costs
mostly the threads waking each other and trading that lock, not the work: a woken
thread that finds the lock held goes back to sleep, and a thread woken on the other CPU
wakes by interrupt. Two measures keep the trades few:

- Batching. Ops the loop dispatches are staged (recorded, not yet written) and handed
  to their workers together when the loop has nothing else to do; completions that
  arrived meanwhile are taken all at once. The loop releases the lock (a write to the
  history, a wait) once per batch, not once per op. The history's guarantee holds:
  before any op is handed to a worker, and before the loop waits, everything recorded
  so far is written to the OS (:meth:`harness.recorder.Recorder.flush`), so every
  invocation is on disk before its call starts and a SIGKILL leaves a checkable prefix.
- One CPU (:class:`CpuPlacement`, off by default: ``WorkerPool(one_cpu=True)``, for
  harness-bound benchmarks). While the loop runs, its thread and
  the client workers are kept on one CPU, and client workers do not preempt the thread
  that woke them (``SCHED_BATCH``): a woken worker runs when the loop waits, finds the
  lock free, and nobody wakes only to sleep again. This costs no parallelism (the GIL
  allows one thread of Python at a time) and halves the context switches per op. The
  nemesis worker, whose commands start processes (node processes among them), runs on
  every CPU it may use; the loop's thread gets its CPUs back when the pool closes. The
  scheduling policy is not inherited by children; the CPU of a client worker is (a
  client that starts processes should know). It is off for real runs because a woken
  worker may start its call a few ms late under load, which would show up as latency.

Measured with bench/run_throughput.py (10 worker threads, an instant in-process client,
history on disk; this 2-core machine, idle): 15-20k ops/s before these measures, about
23k with batching, about 37k with both; a 3-node raftkv sustains about 1.3k ops/s.

Threads, not asyncio: the client protocol stays plain blocking code (one keep-alive
HTTP connection per worker, the stdlib client), and a stuck call can be abandoned
without stalling the others.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple

from cluster.base import Node
from harness.client import Client, DefiniteError
from harness.generator import Thread
from harness.op import COMPLETION_TYPES, NEMESIS, Op
from harness.recorder import Recorder
from nemesis.base import Nemesis

NewClient = Callable[[], Client]

WAIT_SLICE_S: Final = 0.1
"""The longest the loop's thread waits at once (see module docstring)."""


def completion_for(invocation: Op, call: Callable[[Op], Op]) -> Op:
    """The completion of ``invocation`` by ``call``, with errors mapped to fail/info."""
    try:
        done = call(invocation)
    except DefiniteError as e:
        return invocation.with_(type="fail", error=str(e) or type(e).__name__)
    except Exception as e:
        return invocation.with_(type="info", error=f"{type(e).__name__}: {e}")
    problem = _invalid_completion(invocation, done)
    if problem is not None:
        return invocation.with_(type="info", error=f"invalid completion from client: {problem}")
    return done


def _invalid_completion(invocation: Op, done: Any) -> str | None:
    if not isinstance(done, Op):
        return f"expected an Op, got {type(done).__name__}"
    if done.type not in COMPLETION_TYPES:
        return f"type {done.type!r} is not one of {', '.join(COMPLETION_TYPES)}"
    if done.process != invocation.process:
        return f"process {done.process!r} is not the invocation's {invocation.process!r}"
    if done.f != invocation.f:
        return f"f {done.f!r} is not the invocation's {invocation.f!r}"
    return None


@dataclass(frozen=True)
class CpuPlacement:
    """Where the pool's threads run (see module docstring): the run loop's thread and the
    client workers on ``cpu``, client workers without wake-up preemption; the nemesis
    worker anywhere in ``allowed`` (the CPUs the process may use). ``cpu`` None: leave
    the scheduler alone. Best effort: a call the OS refuses only costs speed."""

    cpu: int | None
    allowed: frozenset[int] | None

    @classmethod
    def here(cls) -> CpuPlacement:
        """The CPU the calling thread runs on now, among the CPUs it may use (Linux)."""
        try:
            allowed = frozenset(os.sched_getaffinity(0))
            stat = Path("/proc/thread-self/stat").read_text()
            cpu = int(stat[stat.rindex(")") + 2:].split()[_STAT_PROCESSOR])
        except (AttributeError, OSError, ValueError, IndexError):
            return cls(None, None)
        return cls(cpu if cpu in allowed else min(allowed), allowed)

    def settle_loop(self) -> Callable[[], None]:
        """Keep the calling thread (the run loop's) on the pool's CPU; returns what gives
        it back the CPUs it had."""
        if self.cpu is None:
            return _nothing
        tid = threading.get_native_id()
        with _best_effort:
            before = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {self.cpu})

            def release() -> None:
                with _best_effort:
                    os.sched_setaffinity(tid, before)

            return release
        return _nothing

    def settle_worker(self, *, client: bool) -> None:
        """Place the calling worker thread: a client worker on the pool's CPU, not
        preempting the thread that woke it; the nemesis worker (whose commands start
        processes, node processes among them) anywhere."""
        if self.cpu is None or self.allowed is None:
            return
        with _best_effort:
            if not client:
                os.sched_setaffinity(0, self.allowed)
                return
            os.sched_setaffinity(0, {self.cpu})
            os.sched_setscheduler(0, os.SCHED_BATCH | os.SCHED_RESET_ON_FORK,
                                  os.sched_param(0))


_STAT_PROCESSOR: Final = 36  # /proc/.../stat field 39 ("processor"), counted after ")"
_best_effort: Final = contextlib.suppress(AttributeError, OSError)  # not Linux, or refused


def _nothing() -> None:
    pass


class _Ticket(NamedTuple):
    """One in-flight op (a NamedTuple: one is built per op, three times faster than a
    frozen dataclass)."""

    thread: Thread
    invocation: Op
    deadline: int  # ns since the test started


class _Worker:
    """A thread serving one slot. A worker abandoned after a timeout exits when its
    stuck call returns, without recording anything. ``None`` in its inbox stops it."""

    def __init__(self, pool: WorkerPool, thread: Thread, node: Node | None) -> None:
        self.pool, self.thread, self.node = pool, thread, node
        self.inbox: queue.SimpleQueue[_Ticket | None] = queue.SimpleQueue()
        self.abandoned = False
        self.client: Client | None = None
        self.os_thread = threading.Thread(target=self._run, name=f"worker-{thread}", daemon=True)
        self.os_thread.start()

    def _call(self, invocation: Op) -> Op:
        if self.node is None:
            assert self.pool.nemesis is not None
            return self.pool.nemesis.invoke(invocation)
        if self.client is None:
            try:
                client = self.pool.new_client()
                client.open(self.node)
            except Exception as e:  # the op was never sent
                raise DefiniteError(f"cannot open a client on {self.node.name}: {e}") from e
            self.client = client
        return self.client.invoke(invocation)

    def _close_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.close()
            except Exception as e:  # a client that cannot close is not worth failing for
                self.pool.note(f"closing client of worker {self.thread}: {e}")

    def _run(self) -> None:
        self.pool.placement.settle_worker(client=self.node is not None)
        get, settle = self.inbox.get, self.pool.settle
        while True:
            ticket = get()
            if ticket is None:
                break
            done = completion_for(ticket.invocation, self._call)
            if self.abandoned:
                break
            if done.type == "info" and self.node is not None:
                self._close_client()  # a new process gets a new client
            settle((ticket, done))
        self._close_client()


class WorkerPool:
    """The run loop's executor over real threads (see module docstring)."""

    def __init__(self, recorder: Recorder, *, concurrency: int, nodes: Sequence[Node],
                 new_client: NewClient, nemesis: Nemesis | None = None,
                 op_timeout_s: float = 5.0, nemesis_timeout_s: float = 120.0,
                 pin_to: str | None = None, grace_s: float = 1.0,
                 notes: Callable[[str], None] | None = None, one_cpu: bool = False) -> None:
        if not nodes:
            raise ValueError("a worker pool needs at least one node")
        self.recorder = recorder
        self.placement = CpuPlacement.here() if one_cpu else CpuPlacement(None, None)
        self.new_client = new_client
        self.nemesis = nemesis
        self._timeout_ns = round((op_timeout_s + grace_s) * 1e9)
        self._nemesis_timeout_ns = round(nemesis_timeout_s * 1e9)
        self._notes = notes
        # A queue.Queue, not a SimpleQueue: the main thread waits on it, and CPython 3.11's
        # SimpleQueue.get(timeout=...) interrupted by a signal after its deadline turns
        # the remaining time negative, which means wait forever (a Ctrl-C could hang).
        self._completions: queue.Queue[tuple[_Ticket, Op]] = queue.Queue()
        # A worker hands ``(ticket, completion)`` to the loop with this.
        self.settle = self._completions.put
        self._inflight: dict[Thread, _Ticket] = {}
        # In-flight tickets in dispatch order, one queue per timeout: deadlines in order.
        # May hold settled tickets (dropped when they reach the front).
        self._due: dict[int, collections.deque[_Ticket]] = {
            self._timeout_ns: collections.deque(), self._nemesis_timeout_ns: collections.deque()}
        self._unstarted: list[_Ticket] = []  # dispatched, not yet handed to their workers
        self._ready: collections.deque[tuple[Thread, Op]] = collections.deque()  # recorded
        pinned = next((n for n in nodes if n.name == pin_to), None)
        if pin_to is not None and pinned is None:
            raise ValueError(f"no node named {pin_to!r}")
        self._node_of: dict[Thread, Node | None] = {
            t: pinned or nodes[t % len(nodes)] for t in range(concurrency)}
        if nemesis is not None:
            self._node_of[NEMESIS] = None
        self._node_name = {t: None if n is None else n.name for t, n in self._node_of.items()}
        self._workers: dict[Thread, _Worker] = {t: _Worker(self, t, n)
                                                for t, n in self._node_of.items()}
        self.timeouts = 0
        self._stuck_nemesis: _Worker | None = None  # abandoned while in a nemesis call
        self._slice_ns = round(WAIT_SLICE_S * 1e9)
        self._release_loop: Callable[[], None] | None = None  # set when the loop is placed

    @property
    def threads(self) -> list[Thread]:
        return list(self._node_of)

    def note(self, message: str) -> None:
        if self._notes is not None:
            self._notes(message)

    # --- Executor -------------------------------------------------------------------

    def now(self) -> int:
        return self.recorder.now()

    def dispatch(self, thread: Thread, invocation: Op) -> Op:
        """Record ``invocation`` (staged) on its thread's node; it is handed to the worker
        when the loop next waits (see module docstring)."""
        if self._release_loop is None:
            self._release_loop = self.placement.settle_loop()
        recorded = self.recorder.stage(invocation, node=self._node_name[thread])
        limit = self._nemesis_timeout_ns if thread == NEMESIS else self._timeout_ns
        ticket = _Ticket(thread, recorded, recorded.time + limit)
        self._inflight[thread] = ticket
        self._due[limit].append(ticket)
        self._unstarted.append(ticket)
        return recorded

    def _start_dispatched(self) -> None:
        """Write what was recorded, then hand the dispatched ops to their workers (a
        nemesis op while a timed-out nemesis call still runs fails at once instead)."""
        self.recorder.flush()
        if self._unstarted:
            workers = self._workers
            stuck = self._stuck_nemesis
            for ticket in self._unstarted:
                if stuck is not None and ticket.thread == NEMESIS:
                    if stuck.os_thread.is_alive():
                        self.settle((ticket, ticket.invocation.with_(
                            type="fail", error="nemesis busy: a timed-out nemesis op is "
                                               "still running")))
                        continue
                    self._stuck_nemesis = stuck = None
                workers[ticket.thread].inbox.put(ticket)
            self._unstarted.clear()

    def _take(self, ticket: _Ticket, done: Op) -> None:
        """Record a worker's completion, unless its op timed out meanwhile (then it was
        recorded as info already and this late answer is dropped)."""
        if self._inflight.get(ticket.thread) is ticket:
            del self._inflight[ticket.thread]
            self._ready.append((ticket.thread, self.recorder.stage(done)))

    def next_completion(self, deadline: int | None) -> tuple[Thread, Op] | None:
        """The next completion, recorded; None once ``deadline`` passed, or after at most
        :data:`WAIT_SLICE_S` of waiting whatever the deadline (see module docstring)."""
        ready = self._ready
        if ready:
            return ready.popleft()
        completions = self._completions
        now = self.now()
        until = now + self._slice_ns
        if deadline is not None and deadline < until:
            until = deadline
        while True:
            self._start_dispatched()
            wake = self._expire(now)
            if ready:
                return ready.popleft()
            if wake is None or wake > until:
                wake = until
            try:
                first = completions.get(timeout=max(0.0, (wake - now) / 1e9))
            except queue.Empty:
                now = self.now()
                if now >= until:
                    return None
                continue
            self._take(*first)
            while not completions.empty():
                self._take(*completions.get())
            if ready:
                return ready.popleft()
            now = self.now()  # only late answers came: wait on, within the same bound

    def _expire(self, now: int) -> int | None:
        """Record every in-flight op past its deadline as info (its worker is abandoned
        and replaced); return the next deadline (None when nothing is in flight)."""
        inflight = self._inflight
        wake = None
        for due in self._due.values():
            while due:
                ticket = due[0]
                if inflight.get(ticket.thread) is not ticket:
                    due.popleft()  # completed in time
                elif ticket.deadline <= now:
                    due.popleft()
                    self._time_out(ticket)
                else:
                    wake = ticket.deadline if wake is None else min(wake, ticket.deadline)
                    break
        return wake

    def _time_out(self, ticket: _Ticket) -> None:
        thread = ticket.thread
        del self._inflight[thread]
        self.timeouts += 1
        self._abandon(self._workers[thread])
        self.note(f"worker {thread}: {ticket.invocation.f} timed out; starting a new worker")
        self._workers[thread] = _Worker(self, thread, self._node_of[thread])
        self._ready.append(
            (thread, self.recorder.stage(ticket.invocation.with_(type="info", error="timeout"))))

    def _abandon(self, worker: _Worker) -> None:
        """Give up on ``worker``, stuck in a call: it exits when the call returns (the
        ``None`` covers a worker that had already passed its ``abandoned`` check), and a
        stuck nemesis call keeps new nemesis ops from starting until then."""
        worker.abandoned = True
        worker.inbox.put(None)
        if worker.node is None:
            self._stuck_nemesis = worker

    def close(self, timeout_s: float = 5.0) -> None:
        """Record a completion for every op still in flight (answers that arrived are
        taken; ``info`` for the rest, ``fail`` for ops never handed to their worker), write
        what is staged, and stop the workers: idle ones are joined, within ``timeout_s``
        in all; workers stuck in a call are abandoned (daemon threads, they exit when the
        call returns). Idempotent."""
        while not self._completions.empty():
            self._take(*self._completions.get())
        never_started = {id(t) for t in self._unstarted}
        self._unstarted.clear()
        stuck = []
        for ticket in sorted(self._inflight.values(), key=lambda t: t.invocation.index):
            if id(ticket) in never_started:
                done = ticket.invocation.with_(type="fail", error="not started: the run stopped")
            else:
                done = ticket.invocation.with_(type="info", error="the run stopped first")
                stuck.append(self._workers[ticket.thread])
            self.recorder.stage(done)
        self._inflight.clear()
        self._ready.clear()
        for due in self._due.values():
            due.clear()
        self.recorder.flush()
        for w in stuck:
            self._abandon(w)
        idle = [w for w in self._workers.values() if not w.abandoned]
        for w in idle:
            w.inbox.put(None)
        deadline = time.monotonic() + timeout_s
        for w in idle:
            w.os_thread.join(max(0.0, deadline - time.monotonic()))
        if self._release_loop is not None:
            self._release_loop()
            self._release_loop = None
