"""Set-full: what became of every element added to a set (Jepsen's ``set-full``).

Ops: ``add`` (value: one element) and ``read`` (value: every element read). Time is
history order. An element becomes *known* when its add completes ``ok``, or when a read
that contains it completes, whichever is first. From then on every read that *begins*
after it was known should contain it. Each attempted element ends up as:

- ``stable``: every read begun after it was known contains it;
- ``lost``: some read begun after it was known lacks it, and no later read has it
  again (the last read lacking it began after the last read holding it completed);
- ``stale``: some reads begun after it was known lack it, but a later read has it
  again (allowed, unless ``linearizable=True``);
- ``never-read``: no read began after it was known (or it never became known);

and separately: ``recovered`` (its add was ``info`` or never completed, yet a read saw
it), ``unexpected`` (a read saw an element nobody had tried to add, or whose add had
``fail``\\ed), ``duplicated`` (a read held it more than once). The set is invalid with
any lost, unexpected or duplicated element (or stale one, when linearizable); without
any ok read the verdict is ``"unknown"``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from checkers.models import freeze
from checkers.result import UNKNOWN, Anomaly, Result, Valid
from harness.history import History
from harness.op import Op

MAX_LISTED: Final = 20


@dataclass
class _Element:
    """What is known about one element while walking the history (internal)."""

    add_invoked: int | None = None
    add_outcome: str | None = None  # ok / info / fail / None (pending)
    known: int | None = None  # position from which reads must see it
    last_present: int | None = None  # completion position of the last read holding it
    last_absent: int | None = None  # invocation position of the last read lacking it
    absent_reads: int = 0
    seen_reads: list[int] = field(default_factory=list)


class SetChecker:
    """Jepsen's set-full analysis of ``add``/``read`` histories (module docstring)."""

    def __init__(self, linearizable: bool = False) -> None:
        self.linearizable = linearizable
        self.name = "set-full"

    def check(self, history: Sequence[Op]) -> Result:
        h = History.of(history)
        elements: dict[Hashable, _Element] = {}
        reads: list[tuple[int, int, frozenset[Hashable], Op]] = []  # start, end, seen, op
        duplicated: dict[Hashable, int] = {}
        unexpected: list[Hashable] = []
        for pair in h.pairs():
            if pair.f == "add":
                e = elements.setdefault(freeze(pair.invoke.value), _Element())
                e.add_invoked = pair.start if e.add_invoked is None else e.add_invoked
                if e.add_outcome != "ok":
                    e.add_outcome = pair.type if pair.completion is not None else None
                if pair.type == "ok" and pair.end is not None:
                    e.known = pair.end if e.known is None else min(e.known, pair.end)
            elif pair.f == "read" and pair.type == "ok" and pair.end is not None:
                value = pair.completion.value if pair.completion is not None else None
                items = [freeze(x) for x in (value or [])]
                for x, n in Counter(items).items():
                    if n > 1:
                        duplicated[x] = max(duplicated.get(x, 0), n)
                reads.append((pair.start, pair.end, frozenset(items), pair.completion or
                              pair.invoke))
        holding: dict[Hashable, list[int]] = {}  # element -> reads (indices) holding it
        for ri, (_, end, seen, _) in enumerate(reads):
            for x in seen:
                element = elements.get(x)
                if element is None or element.add_invoked is None or element.add_invoked > end:
                    if x not in unexpected:
                        unexpected.append(x)
                    continue
                holding.setdefault(x, []).append(ri)
                element.known = end if element.known is None else min(element.known, end)
        starts = [r[0] for r in reads]  # reads are in invocation order
        outcome: dict[str, list[Hashable]] = {k: [] for k in
                                              ("stable", "lost", "stale", "never-read")}
        recovered: list[Hashable] = []
        failed_but_seen: list[Hashable] = []
        for x, e in elements.items():
            present = holding.get(x, [])
            if present and e.add_outcome in (None, "info"):
                recovered.append(x)
            if present and e.add_outcome == "fail":
                failed_but_seen.append(x)
            first_after = bisect_right(starts, e.known) if e.known is not None else len(reads)
            if first_after == len(reads):
                outcome["never-read"].append(x)
                continue
            present_after = sum(1 for ri in present if ri >= first_after)
            if present_after == len(reads) - first_after:
                outcome["stable"].append(x)
                continue
            in_present = set(present)
            last_absent_start = next(starts[ri] for ri in range(len(reads) - 1, first_after - 1, -1)
                                     if ri not in in_present)
            last_present = max((reads[ri][1] for ri in present), default=None)
            if last_present is None or last_absent_start > last_present:
                outcome["lost"].append(x)
            else:
                outcome["stale"].append(x)
        unexpected.extend(failed_but_seen)
        anomalies = []
        for kind, items, sentence in (
            ("lost", outcome["lost"], "element(s) acknowledged or seen, then missing from "
                                      "every later read"),
            ("unexpected", unexpected, "element(s) read that were never successfully "
                                       "attempted"),
            ("duplicated", list(duplicated), "element(s) appearing more than once in a read"),
            ("stale", outcome["stale"] if self.linearizable else [],
             "element(s) missing from reads after they were known (stale reads)"),
        ):
            if items:
                anomalies.append(Anomaly(kind, f"{len(items)} {sentence}: {_some(items)}",
                                         data={"elements": _jsonable(items[:MAX_LISTED])}))
        counts = {k: len(v) for k, v in outcome.items()}
        counts.update({"recovered": len(recovered), "unexpected": len(unexpected),
                       "duplicated": len(duplicated), "attempted": len(elements)})
        valid: Valid
        if anomalies:
            valid = False
            summary = "invalid: " + ", ".join(f"{counts[a.kind]} {a.kind}" for a in anomalies)
        elif not reads:
            valid = UNKNOWN
            summary = "unknown: no successful read"
        else:
            valid = True
            summary = (f"valid: {counts['stable']} stable, {counts['stale']} stale, "
                       f"{counts['never-read']} never read, {counts['recovered']} recovered")
        details: dict[str, Any] = {"counts": counts}
        for k, items in (*outcome.items(), ("recovered", recovered),
                         ("unexpected", unexpected), ("duplicated", list(duplicated))):
            if items and k != "stable":
                details[k] = _jsonable(items[:MAX_LISTED])
        return Result(self.name, valid, summary, tuple(anomalies), details)


def _some(items: list[Hashable]) -> str:
    shown = ", ".join(repr(x) for x in items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _jsonable(items: list[Hashable]) -> list[Any]:
    return [list(x) if isinstance(x, tuple) else x for x in items]
