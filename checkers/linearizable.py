"""Linearizability: is there one order of the operations, consistent with real time, in
which each operation is legal for the model?

The history is cut into independent parts (P-compositionality, Herlihy and Wing): the
model's ``partition`` names the part of each operation (by default its ``key``), and a
history is linearizable exactly when each part is. Each part is checked by the search in
checkers/wgl.py, which hands a completion it is stuck at to a window refutation
(checkers/refute.py): a long history with one bad operation near its end gets its
``False`` in the time it takes to get there, not after backtracking through all of it.
Big histories with several parts are checked in parallel processes.

Jepsen's meaning of the op types holds: ``fail`` operations did not happen and are
dropped; an ``info`` operation (or one never completed) may take effect at any time
after its invocation, or never; nemesis ops are ignored. With ``independent=True``,
Jepsen's ``[k v]`` tuple values are first split into key and value.

The verdict is ``"unknown"`` (never a hang, never a crash for memory) when the time
limit is reached or the cache of configurations outgrows the memory limit; the search
forgets configurations it has left behind, so a history that is only long, not hard,
stays within the limit. For an invalid history the result names the operation that
cannot be linearized, the longest linearizable prefix of its part, and a minimal
non-linearizable sub-history with a sentence a person can read
(checkers/counterexample.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

from checkers.counterexample import CounterexampleInput, counterexample
from checkers.models import Call, Model, freeze, get_model
from checkers.refute import search_refuting
from checkers.result import UNKNOWN, Anomaly, Result, Valid, merge_valid
from checkers.wgl import Operation, SearchOutcome, paused_gc
from harness.errors import InputError
from harness.history import History, HistoryError, OpPair, split_independent
from harness.op import Op

DEFAULT_MEMORY_LIMIT: Final = 1 << 30  # bytes of search cache, over all parts at once
PARALLEL_AFTER: Final = 0.5  # seconds of searching in-process before forking workers
DEFAULT_SHRINK_TIME: Final = 5.0  # seconds to spend minimizing a counterexample
MIN_SHRINK_TIME: Final = 0.5  # ... even when the time limit is (nearly) used up


@dataclass(frozen=True, slots=True)
class Part:
    """The operations of one independent part, and the pairs they came from."""

    key: Hashable
    operations: tuple[Operation, ...]
    pairs: tuple[OpPair, ...]


def prepare_parts(history: Sequence[Op], model: Model, *, independent: bool = False
                  ) -> list[Part]:
    """The history as the model's independent parts, ready for the search.

    Raises InputError for an operation the model does not understand.
    """
    ops = split_independent(history) if independent else history
    try:
        h = History.of(ops)
    except HistoryError as e:
        raise InputError(f"op {e.position}: {e}") from None
    by_part: dict[Hashable, tuple[list[Operation], list[OpPair]]] = {}
    part_of, prepare, is_read_only = model.partition, model.prepare, model.is_read_only
    for pair in h.pairs():
        invoke, completion = pair.invoke, pair.completion
        kind = "info" if completion is None else completion.type
        if kind == "fail":
            continue
        known = kind == "ok"
        key = invoke.key
        if key is None and completion is not None:
            key = completion.key
        call = Call(invoke.f, key, freeze(invoke.value),
                    freeze(completion.value) if known and completion is not None else None,
                    known)
        try:
            call = prepare(call)
        except (ValueError, TypeError) as e:
            raise InputError(f"op {invoke.index} ({invoke.f} by process {invoke.process}): "
                             f"{e}") from None
        read_only = is_read_only(call)
        if not known and read_only:
            continue  # an unknown outcome that could not have changed anything
        part = part_of(call) if part_of is not None else None
        bucket = by_part.get(part)
        if bucket is None:
            bucket = by_part[part] = ([], [])
        bucket[0].append(Operation(call, pair.start, pair.end if known else None, read_only))
        bucket[1].append(pair)
    return [Part(k, tuple(o), tuple(p)) for k, (o, p) in by_part.items()]


def check_linearizable(history: Sequence[Op], model: Model | str, *,
                       independent: bool = False, time_limit: float | None = None,
                       memory_limit: int = DEFAULT_MEMORY_LIMIT,
                       parallel: bool | None = None,
                       shrink_time: float = DEFAULT_SHRINK_TIME) -> Result:
    """Check a history for linearizability against a model (a Model or its name).

    ``time_limit`` (seconds) and ``memory_limit`` (bytes of search cache) bound the
    search; reaching either gives ``"unknown"``. ``parallel`` forces (True) or forbids
    (False) checking parts in parallel processes; by default the parts left once the
    search has taken half a second are. ``shrink_time`` bounds the time spent minimizing
    a counterexample.
    """
    started = time.monotonic()
    m = get_model(model) if isinstance(model, str) else model
    deadline = None if time_limit is None else started + time_limit
    with paused_gc():
        parts = prepare_parts(history, m, independent=independent)
        outcomes = _search_parts(parts, m, deadline, memory_limit, parallel)
        return _result(m, parts, outcomes, started, deadline, shrink_time)


class LinearizabilityChecker:
    """The Checker form of :func:`check_linearizable` for one model."""

    def __init__(self, model: str, independent: bool = False,
                 time_limit: float | None = None) -> None:
        self.model = model
        self.independent = independent
        self.time_limit = time_limit
        self.name = f"linearizable ({model})"

    def check(self, history: Sequence[Op]) -> Result:
        return check_linearizable(history, self.model, independent=self.independent,
                                  time_limit=self.time_limit)


# ---------------------------------------------------------------------------- parts


def _search_parts(parts: list[Part], model: Model, deadline: float | None,
                  memory_limit: int, parallel: bool | None) -> list[SearchOutcome]:
    """Every part's outcome. Parts go in this process, biggest first, until that has
    taken PARALLEL_AFTER seconds; the rest then go to worker processes (at once with
    ``parallel=True``, never with ``parallel=False``). Most parts take milliseconds,
    and then starting processes would not pay."""
    workers = min(os.cpu_count() or 1, len(parts))
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i].operations))
    outcomes: list[SearchOutcome | None] = [None] * len(parts)
    started = time.monotonic()
    for done, i in enumerate(order):
        rest = order[done:]
        if (parallel is not False and workers > 1 and len(rest) > 1
                and (parallel or time.monotonic() - started > PARALLEL_AFTER)):
            found = _search_in_processes([parts[j] for j in rest], model, deadline,
                                         memory_limit, min(workers, len(rest)))
            if found is not None:
                for j, outcome in zip(rest, found, strict=True):
                    outcomes[j] = outcome
                break
            parallel = False  # processes failed: go on here
        outcomes[i] = _search_part(parts[i].operations, model, deadline, memory_limit)
    return [o for o in outcomes if o is not None]


def _search_part(operations: Sequence[Operation], model: Model, deadline: float | None,
                 memory_limit: int) -> SearchOutcome:
    return search_refuting(operations, model.step, model.init(), deadline=deadline,
                           memory_limit=memory_limit, want_order=True)


def _search_batch(parts: list[Part], model: Model, deadline: float | None, memory_limit: int,
                  conn: Connection) -> None:
    """A worker process: search some parts and send the outcomes back."""
    try:
        conn.send([_search_part(p.operations, model, deadline, memory_limit) for p in parts])
    finally:
        conn.close()


def _search_in_processes(parts: list[Part], model: Model, deadline: float | None,
                         memory_limit: int, workers: int) -> list[SearchOutcome] | None:
    """Parts spread over forked worker processes, biggest first; None if that fails.

    fork starts a worker in milliseconds, hands it the parts without copying them through
    a pipe, and never re-imports the caller's main module; the workers run only the pure
    search (no locks, no I/O) and send back small outcomes.
    """
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return None  # no fork on this platform: check in this process instead
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i].operations))
    batches: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for i in order:
        w = loads.index(min(loads))
        batches[w].append(i)
        loads[w] += len(parts[i].operations)
    running = []
    try:
        for batch in batches:
            receive, send = context.Pipe(duplex=False)
            proc = context.Process(target=_search_batch, daemon=True,
                                   args=([parts[i] for i in batch], model, deadline,
                                         memory_limit // workers, send))
            proc.start()
            send.close()
            running.append((batch, proc, receive))
        results: list[SearchOutcome | None] = [None] * len(parts)
        for batch, proc, receive in running:
            outcomes = receive.recv()
            proc.join()
            for i, outcome in zip(batch, outcomes, strict=True):
                results[i] = outcome
    except (EOFError, OSError):
        return None  # a worker died or could not start: check in this process instead
    finally:
        for _, proc, receive in running:
            receive.close()
            if proc.is_alive():
                proc.kill()
                proc.join()
    return [r for r in results if r is not None]


# ---------------------------------------------------------------------------- verdict


def _json_key(key: Hashable) -> Any:
    if isinstance(key, tuple):
        return list(key)
    return key


def _result(model: Model, parts: list[Part], outcomes: list[SearchOutcome], started: float,
            deadline: float | None, shrink_time: float) -> Result:
    name = f"linearizable ({model.name})"
    valid: Valid = merge_valid(o.valid for o in outcomes)
    n_ops = sum(len(p.operations) for p in parts)
    configurations = sum(o.configurations for o in outcomes)
    part_details = []
    for p, o in zip(parts, outcomes, strict=True):
        if o.valid is True:
            continue
        d: dict[str, Any] = {"key": _json_key(p.key), "valid": o.valid,
                             "operations": len(p.operations),
                             "configurations": o.configurations}
        if o.valid is False and o.stuck is not None and o.prefix_end is not None:
            d["failing"] = _failing_op(p, o).index
            d["prefix_length"] = _prefix_length(p, o.prefix_end)
        if o.reason:
            d["reason"] = o.reason
        part_details.append(d)
    details: dict[str, Any] = {
        "model": model.name,
        "parts": len(parts),
        "operations": n_ops,
        "configurations": configurations,
        "elapsed": round(time.monotonic() - started, 6),
    }
    if part_details:
        details["failed_parts"] = part_details
    anomalies: tuple[Anomaly, ...] = ()
    error = None
    if valid is False:
        p, o = next((p, o) for p, o in zip(parts, outcomes, strict=True) if o.valid is False)
        budget = shrink_time
        if deadline is not None:  # a time limit bounds shrinking too, leaving it a moment
            budget = min(shrink_time, max(deadline - time.monotonic(), MIN_SHRINK_TIME))
        ce = counterexample(CounterexampleInput(
            key=p.key, operations=p.operations, pairs=p.pairs, stuck=o.stuck or 0,
            prefix_end=o.prefix_end or 0, model=model, prefix_order=o.order),
            time_budget=budget)
        ce["part"] = _json_key(p.key)
        ce["prefix_length"] = _prefix_length(p, o.prefix_end or 0)
        details["counterexample"] = ce
        anomalies = (Anomaly("nonlinearizable", ce["sentence"],
                             ops=tuple(op["index"] for op in ce["ops"]),
                             data={"part": ce["part"]}),)
        n_bad = sum(1 for o in outcomes if o.valid is False)
        where = f" at key {p.key!r}" if len(parts) > 1 else ""
        others = f" (and {n_bad - 1} other key(s))" if n_bad > 1 else ""
        summary = f"not linearizable{where}{others}: {ce['sentence']}"
    elif valid == UNKNOWN:
        reasons = sorted({o.reason for o in outcomes if o.valid == UNKNOWN})
        n_unknown = sum(1 for o in outcomes if o.valid == UNKNOWN)
        error = "; ".join(reasons)
        summary = (f"unknown: {error} in {n_unknown} of {len(parts)} part(s) "
                   f"({configurations} configurations explored)")
    else:
        summary = (f"linearizable: {n_ops} operations in {len(parts)} part(s), "
                   f"{configurations} configurations explored")
    details["elapsed"] = round(time.monotonic() - started, 6)
    return Result(checker=name, valid=valid, summary=summary, anomalies=anomalies,
                  details=details, error=error)


def _failing_op(part: Part, outcome: SearchOutcome) -> Op:
    pair = part.pairs[outcome.stuck or 0]
    return pair.completion if pair.completion is not None else pair.invoke


def _prefix_length(part: Part, prefix_end: int) -> int:
    """How many events of the part come before its failing completion."""
    return sum((p.start < prefix_end) + (p.end is not None and p.end < prefix_end)
               for p in part.pairs)
