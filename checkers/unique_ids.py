"""Unique IDs: no two successful ``generate`` operations return the same id.

Ops: ``generate`` (completion value: the id). Only ``ok`` completions count; an id
returned twice or more is a ``duplicated`` anomaly. Jepsen's unique-ids checker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, Final

from checkers.models import freeze
from checkers.result import Anomaly, Result
from harness.history import History
from harness.op import Op

MAX_LISTED: Final = 20


class UniqueIdsChecker:
    """Every acknowledged id is distinct."""

    def __init__(self) -> None:
        self.name = "unique-ids"

    def check(self, history: Sequence[Op]) -> Result:
        ids: Counter[Hashable] = Counter()
        where: dict[Hashable, list[int]] = {}
        attempted = 0
        for op in History.of(history):
            if not op.is_client or op.f != "generate":
                continue
            if op.type == "invoke":
                attempted += 1
            elif op.type == "ok":
                v = freeze(op.value)
                ids[v] += 1
                where.setdefault(v, []).append(op.index)
        dups = {v: n for v, n in ids.items() if n > 1}
        listed = sorted(dups.items(), key=lambda kv: -kv[1])[:MAX_LISTED]
        anomalies: tuple[Anomaly, ...] = ()
        if dups:
            text = ", ".join(f"{v!r} ({n} times)" for v, n in listed)
            more = f" and {len(dups) - MAX_LISTED} more" if len(dups) > MAX_LISTED else ""
            anomalies = (Anomaly("duplicated", f"{len(dups)} id(s) returned more than once: "
                                 f"{text}{more}",
                                 tuple(i for v, _ in listed for i in where[v]),
                                 {"ids": [[_json(v), n] for v, n in listed]}),)
        acknowledged = sum(ids.values())
        details: dict[str, Any] = {"attempted": attempted, "acknowledged": acknowledged,
                                   "unique": len(ids), "duplicated": len(dups)}
        if dups:
            return Result(self.name, False, f"invalid: {len(dups)} duplicated id(s)",
                          anomalies, details)
        return Result(self.name, True, f"valid: {acknowledged} ids, all distinct",
                      (), details)


def _json(v: Hashable) -> Any:
    return list(v) if isinstance(v, tuple) else v
