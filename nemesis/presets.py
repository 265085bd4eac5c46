"""Presets: named nemesis mixes, each tuned to catch one of raftkv's deliberate defects.

A preset is plain data: the nemeses to combine, their interval, the opening ops each
draws from (replacing the defaults) or a fixed, timed ``schedule`` of ops to cycle
through instead, and the workload, read mode and ``--unsafe`` flag it is meant to run with
(``chaos run --preset NAME`` takes them all, see :func:`run_defaults`; explicit flags
override). Each pairs with a 1 s client op timeout: a client whose node is cut off gives
up quickly and tries again, so the cut-off node keeps being asked while it is wrong.
Why each mix catches its defect within one 60 s run:

``stale-reads`` (``--unsafe-stale-reads``: every read served from local state)
    Partitions that cut off a node or a minority (``one``, ``minority-third``,
    ``halves``) or the leader (``primaries``): the cut-off side keeps answering reads
    from a state the majority has moved past, so a read returns a value older than a
    write that completed before it began.

``lease`` (``--unsafe-lease-ignore-drift``: the leader's lease lasts two election
timeouts, with no drift margin)
    A fixed cycle: slow the leader's clock (``rate-clock`` 0.2-0.3 on ``primaries``),
    then isolate it (``primaries`` partition) for about 8 s, then heal both. The majority
    elects a new leader and takes writes within one or two election timeouts of real time,
    while the old leader counts its lease, and the ticks that would make it step down, on
    a clock running at a quarter of the speed: for seconds it keeps serving lease reads
    of the old value. (raftkv's ticks sleep relatively, so only the *rate* slows them; an
    offset alone moves the lease but not the ticks.)

``ack-before-commit`` (``--unsafe-ack-before-commit``: writes acknowledged once in
the leader's log)
    Isolate or kill the leader (``primaries``): writes it acknowledged but never
    committed are overwritten by the next leader, so an acknowledged write is lost and a
    later read contradicts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from harness.errors import InputError

OpDict = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Preset:
    """A nemesis mix for one defect, and the run it pairs with (see module docstring)."""

    name: str
    defect: str  # the raftkv --unsafe-... flag it catches
    nemeses: tuple[str, ...]
    interval_s: float
    workload: str
    read_mode: str
    unsafe: tuple[str, ...]
    doc: str
    op_timeout_s: float = 1.0  # clients on a cut-off node give up fast and try again
    openers: Mapping[str, tuple[OpDict, ...]] = field(default_factory=dict)
    # when set, instead of each kind's own schedule: (seconds, op) steps in a cycle, each op
    # that many seconds (jittered +/-50%) after the previous one
    schedule: tuple[tuple[float, OpDict], ...] = ()


PRESETS: Final[Mapping[str, Preset]] = {
    p.name: p
    for p in (
        Preset(
            name="stale-reads",
            defect="stale-reads",
            nemeses=("partition",),
            interval_s=5.0,
            workload="register",
            read_mode="index",
            unsafe=("stale-reads",),
            doc="partitions leave a cut-off side serving old values",
            openers={"partition": tuple(
                {"f": "start-partition", "value": s}
                for s in ("one", "minority-third", "halves", "primaries"))},
        ),
        Preset(
            name="lease",
            defect="lease-ignore-drift",
            nemeses=("partition", "clock"),
            interval_s=3.0,
            workload="register",
            read_mode="lease",
            unsafe=("lease-ignore-drift",),
            doc="a slow-clocked, isolated old leader keeps serving lease reads",
            schedule=(
                (2.0, {"f": "rate-clock",
                       "value": {"targets": "primaries", "rate": [0.2, 0.25, 0.3]}}),
                (0.5, {"f": "start-partition", "value": "primaries"}),
                (8.0, {"f": "stop-partition", "value": None}),
                (1.0, {"f": "reset-clock", "value": {"targets": "all"}}),
            ),
        ),
        Preset(
            name="ack-before-commit",
            defect="ack-before-commit",
            nemeses=("partition", "kill"),
            interval_s=5.0,
            workload="register",
            read_mode="index",
            unsafe=("ack-before-commit",),
            doc="an isolated or killed leader's acknowledged, uncommitted writes are lost",
            openers={
                "partition": ({"f": "start-partition", "value": "primaries"},),
                "kill": ({"f": "kill", "value": "primaries"},),
            },
        ),
    )
}


def run_defaults(preset: Preset) -> dict[str, Any]:
    """The run settings a preset pairs with, keyed as the Test's fields (``workload``,
    ``read_mode``, ``unsafe``, ``op_timeout``): what ``chaos run --preset`` uses where
    no flag or test file says otherwise."""
    return {"workload": preset.workload, "read_mode": preset.read_mode,
            "unsafe": list(preset.unsafe), "op_timeout": preset.op_timeout_s}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; InputError listing the presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None
