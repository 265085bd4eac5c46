"""Fault windows: when, according to the history, each kind of fault was in force.

Nemesis ``f`` names are a contract (they appear in histories, plots and reports). Each
fault *family* has the ``f`` values that open a window and those that close it:

=============  ===========================================  ================
family         opens                                        closes
=============  ===========================================  ================
partition      start-partition                              stop-partition
kill           kill                                         start
pause          pause                                        resume
clock          bump-clock, strobe-clock, rate-clock         reset-clock
packet         start-packet                                 stop-packet
membership     remove-node                                  add-node
=============  ===========================================  ================

A window opens at the completion of an opening op and closes at the completion of the
next closing op of its family (or at the end of the history). Ops that inform without
changing anything (``check-clock-offsets``) open nothing. Pure: history in, windows out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from harness.op import NEMESIS, Op


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    opens: frozenset[str]
    closes: frozenset[str]
    color: str  # for shading on plots


FAMILIES: Final = (
    Family("partition", frozenset({"start-partition"}), frozenset({"stop-partition"}), "#e4572e"),
    Family("kill", frozenset({"kill"}), frozenset({"start"}), "#8c2d04"),
    Family("pause", frozenset({"pause"}), frozenset({"resume"}), "#7b3294"),
    Family("clock", frozenset({"bump-clock", "strobe-clock", "rate-clock"}),
           frozenset({"reset-clock"}), "#1b9e77"),
    Family("packet", frozenset({"start-packet"}), frozenset({"stop-packet"}), "#d95f02"),
    Family("membership", frozenset({"remove-node"}), frozenset({"add-node"}), "#386cb0"),
)


def family_of(f: str) -> Family | None:
    """The family an ``f`` opens or closes, or None for informational ops."""
    for fam in FAMILIES:
        if f in fam.opens or f in fam.closes:
            return fam
    return None


@dataclass(frozen=True, slots=True)
class Window:
    """A fault in force from ``start`` to ``end`` (ns since test start)."""

    family: str
    start: int
    end: int
    color: str
    f: str  # the op that opened it
    value: object = None  # what it did (nodes, grudge, ...)


def fault_windows(history: Iterable[Op], end_time: int | None = None) -> list[Window]:
    """The fault windows of a history, ordered by start time."""
    open_: dict[str, tuple[int, Op]] = {}
    windows: list[Window] = []
    last = 0
    for op in history:
        last = max(last, op.time)
        if op.process != NEMESIS or op.type == "invoke" or op.type == "fail":
            continue
        fam = family_of(op.f)
        if fam is None:
            continue
        if op.f in fam.opens and fam.name not in open_:
            open_[fam.name] = (op.time, op)
        elif op.f in fam.closes and fam.name in open_:
            start, opener = open_.pop(fam.name)
            windows.append(Window(fam.name, start, op.time, fam.color, opener.f, opener.value))
    stop = end_time if end_time is not None else last
    for name, (start, opener) in open_.items():
        fam = next(f for f in FAMILIES if f.name == name)
        windows.append(Window(name, start, stop, fam.color, opener.f, opener.value))
    return sorted(windows, key=lambda w: w.start)
