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

Threads, not asyncio, measured: a thread hand-off round trip costs about 10 us of CPU
against about 3 us for an asyncio task switch, and the whole loop with 10 worker threads
and an instant fake client still runs at 10-17k ops/s (bench/run_throughput.py), an
order of magnitude above what a 3-node raftkv sustains (about 1.3k ops/s). Threads keep
the client protocol plain blocking code (one keep-alive HTTP connection per worker, the
stdlib client) and let a stuck call be abandoned without stalling the others.

Only the loop's thread records: invocations before they are handed over, completions
as the loop takes them (their time is when the loop saw them, so an op's recorded
interval contains its real one and index order is time order, as in Jepsen). An op
that times out is recorded as ``info`` at once; its late answer is dropped.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.base import Node
from harness.client import Client, DefiniteError
from harness.generator import Thread
from harness.op import COMPLETION_TYPES, NEMESIS, Op
from harness.recorder import Recorder
from nemesis.base import Nemesis

NewClient = Callable[[], Client]


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


@dataclass(frozen=True, slots=True)
class _Ticket:
    """One in-flight op."""

    thread: Thread
    invocation: Op
    deadline: int  # ns since the test started


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


class _Worker:
    """A thread serving one slot. A worker abandoned after a timeout exits when its
    stuck call returns, without recording anything."""

    def __init__(self, pool: WorkerPool, thread: Thread, node: Node | None) -> None:
        self.pool, self.thread, self.node = pool, thread, node
        self.inbox: queue.SimpleQueue[_Ticket | _Stop] = queue.SimpleQueue()
        self.abandoned = False
        self.client: Client | None = None
        self.os_thread = threading.Thread(target=self._run, name=f"worker-{thread}", daemon=True)
        self.os_thread.start()

    def _call(self, invocation: Op) -> Op:
        if self.thread == NEMESIS:
            assert self.pool.nemesis is not None
            return self.pool.nemesis.invoke(invocation)
        if self.client is None:
            assert self.node is not None
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
        while True:
            item = self.inbox.get()
            if isinstance(item, _Stop):
                break
            done = completion_for(item.invocation, self._call)
            if self.abandoned:
                break
            if done.type == "info" and self.thread != NEMESIS:
                self._close_client()  # a new process gets a new client
            self.pool.settle(item, done)
        self._close_client()


class WorkerPool:
    """The run loop's executor over real threads (see module docstring)."""

    def __init__(self, recorder: Recorder, *, concurrency: int, nodes: Sequence[Node],
                 new_client: NewClient, nemesis: Nemesis | None = None,
                 op_timeout_s: float = 5.0, nemesis_timeout_s: float = 120.0,
                 pin_to: str | None = None, grace_s: float = 1.0,
                 notes: Callable[[str], None] | None = None) -> None:
        if not nodes:
            raise ValueError("a worker pool needs at least one node")
        self.recorder = recorder
        self.new_client = new_client
        self.nemesis = nemesis
        self._timeout_ns = round((op_timeout_s + grace_s) * 1e9)
        self._nemesis_timeout_ns = round(nemesis_timeout_s * 1e9)
        self._notes = notes
        self._completions: queue.SimpleQueue[tuple[_Ticket, Op]] = queue.SimpleQueue()
        self._inflight: dict[Thread, _Ticket] = {}
        self._deadlines: list[tuple[int, int, _Ticket]] = []  # heap; may hold settled ones
        pinned = next((n for n in nodes if n.name == pin_to), None)
        if pin_to is not None and pinned is None:
            raise ValueError(f"no node named {pin_to!r}")
        self._node_of: dict[Thread, Node | None] = {
            t: pinned or nodes[t % len(nodes)] for t in range(concurrency)}
        if nemesis is not None:
            self._node_of[NEMESIS] = None
        self._workers: dict[Thread, _Worker] = {t: _Worker(self, t, n)
                                                for t, n in self._node_of.items()}
        self.timeouts = 0

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
        node = self._node_of[thread]
        if node is not None:
            i = invocation
            invocation = Op(i.process, i.type, i.f, i.value, i.time, i.index, i.key, node.name,
                            i.error, i.extra)
        recorded = self.recorder.record(invocation)
        limit = self._nemesis_timeout_ns if thread == NEMESIS else self._timeout_ns
        ticket = _Ticket(thread, recorded, recorded.time + limit)
        self._inflight[thread] = ticket
        heapq.heappush(self._deadlines, (ticket.deadline, recorded.index, ticket))
        self._workers[thread].inbox.put(ticket)
        return recorded

    def settle(self, ticket: _Ticket, done: Op) -> None:
        """Called by a worker: hand ``done`` to the loop (which records it)."""
        self._completions.put((ticket, done))

    def next_completion(self, deadline: int | None) -> tuple[Thread, Op] | None:
        while True:
            now = self.now()
            expired = self._expire(now)
            if expired is not None:
                return expired
            wake = self._deadlines[0][0] if self._deadlines else None
            if deadline is not None:
                wake = deadline if wake is None else min(wake, deadline)
            try:
                if wake is None:
                    ticket, done = self._completions.get()
                else:
                    ticket, done = self._completions.get(timeout=max(0.0, (wake - now) / 1e9))
            except queue.Empty:
                if deadline is not None and self.now() >= deadline:
                    return None
                continue
            if self._inflight.get(ticket.thread) is not ticket:
                continue  # it timed out meanwhile and was recorded as info already
            del self._inflight[ticket.thread]
            return ticket.thread, self.recorder.record(done)

    def _expire(self, now: int) -> tuple[Thread, Op] | None:
        """The first in-flight op past its deadline, recorded as info (its worker is
        abandoned and replaced); None when none is."""
        heap = self._deadlines
        while heap and (heap[0][2] is not self._inflight.get(heap[0][2].thread)):
            heapq.heappop(heap)  # completed in time
        if heap and heap[0][0] <= now:
            ticket = heapq.heappop(heap)[2]
            thread = ticket.thread
            del self._inflight[thread]
            self.timeouts += 1
            self._workers[thread].abandoned = True
            self.note(f"worker {thread}: {ticket.invocation.f} timed out; starting a new worker")
            self._workers[thread] = _Worker(self, thread, self._node_of[thread])
            return thread, self.recorder.record(
                ticket.invocation.with_(type="info", error="timeout"))
        return None

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop every worker and close its client, waiting at most ``timeout_s`` in all
        (workers still stuck in a call are daemon threads, left to exit on their own)."""
        for w in self._workers.values():
            w.inbox.put(_Stop())
        deadline = time.monotonic() + timeout_s
        for w in self._workers.values():
            w.os_thread.join(max(0.0, deadline - time.monotonic()))
