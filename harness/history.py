"""History: the ordered ops of one test, with each invocation paired to its completion.

A history is what a run records and what every checker reads. Order is the order of
recording (the ``index``), not ``time``: Jepsen's histories are authoritative about
order, and clocks of different processes may disagree.

Pairing (Jepsen's rules): a client process has at most one operation in flight; its
``invoke`` is completed by that process's next op, which must have the same ``f`` and a
type of ``ok``, ``fail`` or ``info``. An invocation never completed (the run died) is
treated as ``info``: it may have happened, or not. An ``info`` completion that lacks a
value takes its invocation's. Nemesis ops (``process == "nemesis"`` or any other
non-integer process) are kept, paired loosely, and ignored by client checkers.

Files (see DESIGN.md): the native format is JSON Lines, one op per line, written and
flushed as the run goes (:class:`JsonlWriter`), so a run that dies still leaves a
checkable history. :func:`read_history` reads JSON Lines or Jepsen EDN (harness/edn.py),
deciding by the file's suffix, then by its first character. Any malformed line or file
raises :class:`~harness.errors.InputError` naming the file and line (exit 2).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, overload

from harness.errors import InputError
from harness.op import Op


class HistoryError(ValueError):
    """A history that breaks the pairing rules; ``position`` is the offending op's position."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class OpPair:
    """One operation: its invocation and its completion (None if it never completed).

    ``start`` and ``end`` are positions in the history; ``end`` is None when the
    operation never completed.
    """

    invoke: Op
    completion: Op | None
    start: int
    end: int | None

    @property
    def type(self) -> str:
        """``ok``, ``fail`` or ``info`` (a never-completed operation counts as ``info``)."""
        return "info" if self.completion is None else self.completion.type

    @property
    def process(self) -> Any:
        return self.invoke.process

    @property
    def f(self) -> str:
        return self.invoke.f

    @property
    def key(self) -> Any:
        return self.invoke.key if self.invoke.key is not None else (
            self.completion.key if self.completion is not None else None)

    @property
    def value(self) -> Any:
        """The completion's value when there is one, else the invocation's."""
        return self.invoke.value if self.completion is None else self.completion.value


class History(Sequence[Op]):
    """The ordered ops of a test, validated and paired (see module docstring).

    Ops whose ``index`` is unset (-1) get their position as index. Immutable.
    """

    __slots__ = ("_mate", "_ops")

    def __init__(self, ops: Iterable[Op]) -> None:
        self._ops, self._mate = _pair(list(ops))

    @classmethod
    def of(cls, ops: Iterable[Op]) -> History:
        """``ops`` as a History, without copying when it already is one."""
        return ops if isinstance(ops, History) else cls(ops)

    @overload
    def __getitem__(self, i: int) -> Op: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Op]: ...

    def __getitem__(self, i: int | slice) -> Op | Sequence[Op]:
        return self._ops[i]

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self._ops)

    def __repr__(self) -> str:
        return f"History({len(self._ops)} ops)"

    def mate(self, position: int) -> int | None:
        """The position of the op paired with the op at ``position`` (None if unpaired)."""
        m = self._mate[position]
        return None if m < 0 else m

    def pairs(self, *, clients_only: bool = True) -> list[OpPair]:
        """Every operation as an invocation/completion pair, in invocation order.

        Client operations only by default; with ``clients_only=False`` nemesis ops are
        included too (an unpaired nemesis op is its own invocation).
        """
        out: list[OpPair] = []
        ops, mate = self._ops, self._mate
        for i, op in enumerate(ops):
            if type(op.process) is int:  # a client (Op.is_client, inlined: hot)
                if op.type != "invoke":
                    continue
                m = mate[i]
                out.append(OpPair(op, ops[m] if m >= 0 else None, i, m if m >= 0 else None))
            elif not clients_only:
                m = mate[i]
                if m >= 0 and m < i:
                    continue
                out.append(OpPair(op, ops[m] if m >= 0 else None, i, m if m >= 0 else None))
        return out

    def client_ops(self) -> list[Op]:
        """The ops of client processes (nemesis ops left out), in order."""
        return [op for op in self._ops if op.is_client]


def _pair(ops: list[Op]) -> tuple[list[Op], list[int]]:
    """Validate pairing, fill indices and info values; return ops and each op's mate."""
    mate = [-1] * len(ops)
    pending: dict[Any, int] = {}
    nemesis_open: dict[Any, int] = {}
    for i, op in enumerate(ops):
        if op.index < 0:
            op = op.with_(index=i)
            ops[i] = op
        p = op.process
        if not op.is_client:
            # Nemesis: an invoke opens, the next completion of that process closes; an
            # info with nothing open opens (Jepsen logs nemesis ops as info/info pairs).
            j = nemesis_open.pop(p, -1)
            if j >= 0 and op.type != "invoke":
                mate[i], mate[j] = j, i
            elif op.type in ("invoke", "info"):
                nemesis_open[p] = i
            continue
        if op.type == "invoke":
            if p in pending:
                j = pending[p]
                raise HistoryError(i, f"process {p} invokes {op.f!r} while its {ops[j].f!r} "
                                      f"(op {ops[j].index}) has not completed")
            pending[p] = i
            continue
        j = pending.pop(p, -1)
        if j < 0:
            raise HistoryError(i, f"process {p} completes {op.f!r} ({op.type}) without "
                                  f"having invoked it")
        inv = ops[j]
        if inv.f != op.f:
            raise HistoryError(i, f"process {p} completes {op.f!r} but invoked {inv.f!r} "
                                  f"(op {inv.index})")
        if op.type == "info" and op.value is None and inv.value is not None:
            ops[i] = op = op.with_(value=inv.value)
        if op.key is None and inv.key is not None:
            ops[i] = op.with_(key=inv.key)
        mate[i], mate[j] = j, i
    return ops, mate


def split_independent(ops: Iterable[Op]) -> list[Op]:
    """Jepsen's independent ``[k v]`` tuple values split into ``key`` and ``value``.

    Applies to client ops without a ``key`` whose value is a two-element list or
    tuple; other ops are returned unchanged. (Only the caller knows a history is
    independent: a cas value ``[old new]`` looks the same as a tuple.)
    """
    out = []
    for op in ops:
        v = op.value
        if op.is_client and op.key is None and isinstance(v, list | tuple) and len(v) == 2:
            op = op.with_(key=_hashable(v[0]), value=v[1])
        out.append(op)
    return out


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    return v


# ---------------------------------------------------------------------------- JSON Lines


def _json_default(o: Any) -> Any:
    if isinstance(o, set | frozenset):
        try:
            return sorted(o)
        except TypeError:
            return list(o)
    raise TypeError(f"cannot write {type(o).__name__} value {o!r} to a history")


def op_to_json(op: Op) -> str:
    """One op as one line of JSON (no newline)."""
    return json.dumps(op.to_dict(), separators=(",", ":"), default=_json_default)


class JsonlWriter:
    """Appends ops to a JSON Lines history, one line per op, flushed as each is written.

    Thread-safe: ``append`` may be called from any number of threads; each line is
    written and flushed whole under a lock. With ``fsync=True`` every line is also
    forced to disk (slower; survives a machine crash, not just a process crash).
    Opens in append mode by default so a resumed recorder never loses lines.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False,
                 truncate: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._file: IO[str] | None = open(  # noqa: SIM115 (closed by close())
            self.path, "w" if truncate else "a", encoding="utf-8")

    def append(self, op: Op) -> None:
        """Write one op as one line and flush it."""
        line = op_to_json(op) + "\n"
        with self._lock:
            f = self._file
            if f is None:
                raise ValueError(f"history writer for {self.path} is closed")
            f.write(line)
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | os.PathLike[str], ops: Iterable[Op]) -> None:
    """Write a whole history as JSON Lines (replacing the file)."""
    with JsonlWriter(path, truncate=True) as w:
        for op in ops:
            w.append(op)


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, Op]]:
    """Stream a JSON Lines history: ``(line number, op)`` for each non-blank line.

    Raises InputError naming the file and line for a line that is not a JSON op.
    """
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: not valid JSON ({e.msg}, column {e.colno})"
                                 ) from None
            if not isinstance(d, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object (one op), "
                                 f"got {type(d).__name__}")
            try:
                yield lineno, Op.from_dict(d)
            except ValueError as e:
                raise InputError(f"{path}:{lineno}: {e}") from None


# ---------------------------------------------------------------------------- any format


def history_format(path: str | os.PathLike[str]) -> str:
    """``"jsonl"`` or ``"edn"``: by suffix, else by the file's first meaningful character."""
    suffix = Path(path).suffix.lower()
    if suffix == ".edn":
        return "edn"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(4096).lstrip()
    return "jsonl" if head.startswith("{\"") or head.startswith("{ \"") else "edn"


def read_history(path: str | os.PathLike[str]) -> list[Op]:
    """Read a history file (JSON Lines or Jepsen EDN), validated and paired.

    Returns the ops in order (indices filled in, info values completed, see
    :class:`History`). Raises InputError with the file and line on malformed input.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such history file")
    lines: list[int]
    if history_format(p) == "edn":
        from harness.edn import read_edn_with_lines

        ops, lines = read_edn_with_lines(p)
    else:
        ops, lines = [], []
        for lineno, op in iter_jsonl(p):
            ops.append(op)
            lines.append(lineno)
    try:
        return list(History(ops))
    except HistoryError as e:
        line = lines[e.position] if e.position < len(lines) else "?"
        raise InputError(f"{path}:{line}: {e}") from None
