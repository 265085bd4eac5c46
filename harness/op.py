"""Op: one history event, with Jepsen's meaning exactly.

An operation is recorded twice: an ``invoke`` when a process starts it and a completion
(``ok``, ``fail`` or ``info``) when it returns. ``fail`` means the operation definitely
did not happen; ``info`` means the outcome is unknown: it may take effect at any time
after its invocation, or never. A process whose operation ended in ``info`` never
invokes again (its worker continues under a new process id). Faults injected by the
nemesis are ops too, with ``process == "nemesis"``.

``time`` is nanoseconds since the test started (monotonic clock); ``index`` is the
op's position in the history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

OpType = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: Final = ("invoke", "ok", "fail", "info")
COMPLETION_TYPES: Final = ("ok", "fail", "info")
NEMESIS: Final = "nemesis"

Process = int | str

# Fields every Op has; anything else a source records is kept in ``extra``.
_FIELDS: Final = ("index", "time", "process", "type", "f", "value", "key", "node", "error")


@dataclass(frozen=True, slots=True)
class Op:
    """One history event (see module docstring)."""

    process: Process
    type: OpType
    f: str
    value: Any = None
    time: int = -1
    index: int = -1
    key: Any = None
    node: str | None = None
    error: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_invoke(self) -> bool:
        return self.type == "invoke"

    @property
    def is_completion(self) -> bool:
        return self.type != "invoke"

    @property
    def is_client(self) -> bool:
        """True for client ops, False for nemesis (and other non-integer) processes."""
        return isinstance(self.process, int)

    def with_(self, **changes: Any) -> Op:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: fixed fields first, optional ones only when set."""
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": self.value,
        }
        if self.key is not None:
            d["key"] = self.key
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Op:
        """Build an Op from its JSON form; raises ValueError naming what is wrong."""
        missing = [k for k in ("process", "type", "f") if k not in d]
        if missing:
            raise ValueError(f"op lacks required field(s) {', '.join(missing)}")
        t = d["type"]
        if t not in OP_TYPES:
            raise ValueError(f"op type {t!r} is not one of {', '.join(OP_TYPES)}")
        p = d["process"]
        if isinstance(p, bool) or not isinstance(p, int | str):
            raise ValueError(f"op process {p!r} must be an integer or a name such as 'nemesis'")
        if not isinstance(d["f"], str):
            raise ValueError(f"op f {d['f']!r} must be a string")
        time = d.get("time", -1)
        index = d.get("index", -1)
        if not isinstance(time, int) or isinstance(time, bool):
            raise ValueError(f"op time {time!r} must be an integer (ns)")
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(f"op index {index!r} must be an integer")
        return cls(
            process=p,
            type=t,
            f=d["f"],
            value=d.get("value"),
            time=time,
            index=index,
            key=d.get("key"),
            node=d.get("node"),
            error=d.get("error"),
            extra={k: v for k, v in d.items() if k not in _FIELDS},
        )
