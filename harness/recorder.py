"""The recorder: every op appended to ``history.jsonl`` the moment it happens.

The recorder is the history's single writer. Under one lock it stamps each op with its
``index`` (its position) and its ``time`` (monotonic nanoseconds since the test
started), writes it as one JSON line and flushes it to the operating system, so the
order of the file is the order of the run and a run killed with SIGKILL still leaves a
complete, checkable prefix (an invocation without a completion reads as ``info``).
Invocations are recorded before the call, completions right after it returns.

It also keeps the running tallies the live progress shows (:class:`Tally`): counts by
type and the fault families currently in force. The clock is injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.history import JsonlWriter
from harness.op import NEMESIS, Op
from nemesis.windows import family_of


@dataclass(frozen=True, slots=True)
class Tally:
    """A snapshot of what has been recorded so far."""

    elapsed_ns: int
    ops: int  # client invocations
    ok: int
    fail: int
    info: int
    faults: tuple[str, ...]  # fault families in force, by the nemesis ops recorded
    last_nemesis: str | None  # the last nemesis completion, in a few words


def describe_nemesis_op(op: Op) -> str:
    value = "" if op.value is None else f" {op.value}"
    text = f"{op.f}{value}"
    return text if len(text) <= 80 else text[:77] + "..."


class Recorder:
    """Stamps, writes and tallies ops; thread-safe (see module docstring)."""

    def __init__(self, path: Path, *, clock: Callable[[], int] = time.monotonic_ns,
                 fsync: bool = False) -> None:
        self.path = path
        self._clock = clock
        self._start = clock()
        self._writer = JsonlWriter(path, truncate=True, fsync=fsync)
        self._lock = threading.Lock()
        self._index = 0
        self._invokes = self._ok = self._fail = self._info = 0
        self._faults: dict[str, None] = {}
        self._last_nemesis: str | None = None

    def now(self) -> int:
        """Nanoseconds since the test started."""
        return self._clock() - self._start

    def record(self, op: Op) -> Op:
        """Stamp ``op`` with the next index and the current time, write it; return it."""
        with self._lock:
            # Op(...) directly: a hot path, and dataclasses.replace is several times slower.
            stamped = Op(op.process, op.type, op.f, op.value, self._clock() - self._start,
                         self._index, op.key, op.node, op.error, op.extra)
            self._writer.append(stamped)
            self._index += 1
            self._tally(stamped)
        return stamped

    def _tally(self, op: Op) -> None:
        if op.process == NEMESIS:
            if op.type in ("ok", "info"):
                self._last_nemesis = describe_nemesis_op(op)
                family = family_of(op.f)
                if family is not None:
                    if op.f in family.opens:
                        self._faults[family.name] = None
                    elif op.f in family.closes:
                        self._faults.pop(family.name, None)
            return
        t = op.type
        if t == "invoke":
            self._invokes += 1
        elif t == "ok":
            self._ok += 1
        elif t == "fail":
            self._fail += 1
        else:
            self._info += 1

    @property
    def count(self) -> int:
        """Ops recorded so far."""
        return self._index

    def tally(self) -> Tally:
        with self._lock:
            return Tally(self.now(), self._invokes, self._ok, self._fail, self._info,
                         tuple(self._faults), self._last_nemesis)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
