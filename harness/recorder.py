"""The recorder: every op appended to ``history.jsonl`` as it happens.

The recorder is the history's single writer. Under one lock it stamps each op with its
``index`` (its position) and its ``time`` (monotonic nanoseconds since the test
started) and encodes it as one JSON line. A line never waits in a userspace buffer
while a client call could start: :meth:`Recorder.record` writes the line to the
operating system at once (``os.write`` on an ``O_APPEND`` file descriptor, no Python
buffering); :meth:`Recorder.stage` only queues it, and its caller promises to call
:meth:`Recorder.flush` before anything it recorded could matter, that is, before it
hands any op to a client and before it waits. The run loop (harness/workers.py) stages
the ops it records while it works and flushes once per hand-off: one ``os.write`` (a
system call, and with it a release of the GIL) per batch instead of one per op. So the
order of the file is the order of the run, every invocation is in the file before its
call starts, and a run killed with SIGKILL leaves a complete, checkable prefix (an
invocation without a completion reads as ``info``).

Lines are the JSON of :func:`harness.history.op_to_json`, byte for byte; the common ops
(scalars and lists of them) are encoded here with string templates, several times
faster than building a dict for ``json.dumps``, and anything else goes to
``op_to_json``.

It also keeps the running tallies the live progress shows (:class:`Tally`): counts by
type and the fault families currently in force. The clock is injectable for tests.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Final

from harness.history import op_to_json
from harness.op import NEMESIS, Op
from nemesis.windows import family_of

_OPEN_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC


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


def _scalar_json(v: Any) -> str | None:
    """The JSON of ``v`` when it is null, a bool, an int, a str or a list/tuple of such
    (nested); None for anything else (left to the general encoder)."""
    if v is None:
        return "null"
    t = type(v)
    if t is int:
        return int.__repr__(v)
    if t is str:
        return encode_basestring_ascii(v)
    if t is bool:
        return "true" if v else "false"
    if t is list or t is tuple:
        parts = []
        for x in v:
            s = _scalar_json(x)
            if s is None:
                return None
            parts.append(s)
        return "[" + ",".join(parts) + "]"
    return None


def encode_op(op: Op) -> str:
    """``op`` as one line of JSON (no newline): exactly :func:`op_to_json`'s text."""
    if op.extra or type(op.index) is not int or type(op.time) is not int:
        return op_to_json(op)
    p, v = op.process, op.value
    process = int.__repr__(p) if type(p) is int else _scalar_json(p)
    value = "null" if v is None else _scalar_json(v)
    if process is None or value is None or type(op.type) is not str or type(op.f) is not str:
        return op_to_json(op)
    line = (f'{{"index":{op.index},"time":{op.time},"process":{process},'
            f'"type":{encode_basestring_ascii(op.type)},"f":{encode_basestring_ascii(op.f)},'
            f'"value":{value}')
    if op.key is not None or op.node is not None or op.error is not None:
        for name, field in (("key", op.key), ("node", op.node), ("error", op.error)):
            if field is not None:
                s = _scalar_json(field)
                if s is None:
                    return op_to_json(op)
                line += f',"{name}":{s}'
    return line + "}"


class Recorder:
    """Stamps, writes and tallies ops; thread-safe (see module docstring).

    ``started_at`` is the wall-clock time (UTC) of the history's time 0."""

    def __init__(self, path: Path, *, clock: Callable[[], int] = time.monotonic_ns,
                 fsync: bool = False) -> None:
        self.path = path
        self._clock = clock
        self._fsync = fsync
        self._fd: int | None = os.open(path, _OPEN_FLAGS, 0o644)
        self._lock = threading.Lock()
        self._staged: list[str] = []
        self._index = 0
        self._invokes = self._ok = self._fail = self._info = 0
        self._faults: dict[str, None] = {}
        self._last_nemesis: str | None = None
        self.started_at = datetime.now(UTC)
        self._start = clock()

    def now(self) -> int:
        """Nanoseconds since the test started."""
        return self._clock() - self._start

    def record(self, op: Op, *, node: str | None = None) -> Op:
        """Stamp ``op`` with the next index and the current time (and ``node``, when
        given) and write it, with any staged lines before it, to the OS; return it as
        stamped."""
        with self._lock:
            stamped = self._stamp(op, node)
            self._write_staged()
        return stamped

    def stage(self, op: Op, *, node: str | None = None) -> Op:
        """Stamp ``op`` like :meth:`record` but only queue its line: the caller must
        :meth:`flush` before handing an op to a client or waiting (module docstring)."""
        with self._lock:
            return self._stamp(op, node)

    def flush(self) -> None:
        """Write every staged line to the OS (one system call for them all)."""
        if self._staged:
            with self._lock:
                self._write_staged()

    def _stamp(self, op: Op, node: str | None) -> Op:
        # Op(...) directly: a hot path, and dataclasses.replace is several times slower.
        stamped = Op(op.process, op.type, op.f, op.value, self._clock() - self._start,
                     self._index, op.key, op.node if node is None else node, op.error,
                     op.extra)
        self._staged.append(encode_op(stamped))
        self._index += 1
        self._tally(stamped)
        return stamped

    def _write_staged(self) -> None:
        if not self._staged:
            return
        if self._fd is None:
            raise ValueError(f"the recorder of {self.path} is closed")
        self._staged.append("")
        data = memoryview("\n".join(self._staged).encode())
        self._staged.clear()
        while data:
            data = data[os.write(self._fd, data):]
        if self._fsync:
            os.fsync(self._fd)

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
        """Write what is staged and close the file (idempotent)."""
        with self._lock:
            if self._fd is None:
                return
            try:
                self._write_staged()
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
