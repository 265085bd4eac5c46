"""Verdicts: the Result every checker returns, its anomalies, and how verdicts merge.

``valid`` is ``True``, ``False`` or ``"unknown"``. Merging ranks false above unknown
above true: one invalid part makes the whole invalid; otherwise one unknown part makes
it unknown. An anomaly carries its name from the literature (``nonlinearizable``,
``lost``, ``unexpected``, ``stale-read``, ``wrong-total``...) and a sentence a person can
read. ``details`` holds checker-specific data (plain JSON values only); the
linearizability checker puts its counterexample under ``details["counterexample"]``:

    {"part": <key or null>, "ops": [<op dicts, the minimal non-linearizable sub-history>],
     "failing": <index of the op that cannot be linearized>,
     "prefix_length": <ops in the longest linearizable prefix>,
     "sentence": "<the explanation>"}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from harness.op import Op

Valid = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"

_RANK = {True: 0, UNKNOWN: 1, False: 2}


def merge_valid(verdicts: Iterable[Valid]) -> Valid:
    """Merge verdicts: false > unknown > true. No verdicts at all is ``True``."""
    worst: Valid = True
    for v in verdicts:
        if _RANK[v] > _RANK[worst]:
            worst = v
    return worst


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One thing that went wrong, named and explained."""

    kind: str
    explanation: str
    ops: tuple[int, ...] = ()  # indices of the ops involved
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "explanation": self.explanation,
                "ops": list(self.ops), "data": dict(self.data)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Anomaly:
        return cls(kind=d["kind"], explanation=d["explanation"],
                   ops=tuple(d.get("ops", ())), data=dict(d.get("data", {})))


@dataclass(frozen=True, slots=True)
class Result:
    """A checker's verdict on one history."""

    checker: str
    valid: Valid
    summary: str = ""
    anomalies: tuple[Anomaly, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # set when the checker raised or gave up

    def to_dict(self) -> dict[str, Any]:
        return {
            "checker": self.checker,
            "valid": self.valid,
            "summary": self.summary,
            "anomalies": [a.to_dict() for a in self.anomalies],
            "details": dict(self.details),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Result:
        return cls(
            checker=d["checker"],
            valid=d["valid"],
            summary=d.get("summary", ""),
            anomalies=tuple(Anomaly.from_dict(a) for a in d.get("anomalies", ())),
            details=dict(d.get("details", {})),
            error=d.get("error"),
        )


class Checker(Protocol):
    """One method: a history in, a verdict out. Pure; no I/O."""

    name: str

    def check(self, history: list[Op]) -> Result: ...
