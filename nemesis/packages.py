"""Nemesis packages: a nemesis, its schedule, its healing, and how to shade it.

Each nemesis *name* (``--nemesis partition,kill,...``) is a :class:`FaultKind`: the
nemesis it builds, the fault family it belongs to (``nemesis.windows``), the ops that
open a fault window (one is drawn at random each time) and the op that closes it and
heals. :func:`build_package` combines kinds by the ``f`` values they own into one
:class:`NemesisPackage`:

- ``nemesis``: the composed nemesis, each part with its own rng derived from the seed;
- ``generator``: for each kind, after a jittered first pause, open, close, open, ...
  with gaps uniform in ``[0, 2 * interval)`` (Jepsen's stagger); the kinds run side
  by side, so faults of different families overlap;
- ``final_generator``: every kind's closing op, so the run ends healed;
- ``families``: the fault families, for shading plots.

Target and partition specs inside the ops are data resolved by the nemesis when it
runs; :func:`build_package` checks them against the nodes first, so a bad spec is an
input error (exit 2) before any cluster starts. A preset (``nemesis.presets``) supplies
the names, the interval and the opening ops (or one fixed, timed cycle of ops) of a mix
tuned to one raftkv defect. Other
packages may register fault kinds under the ``raft_chaos.nemeses`` entry-point group.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Final

from harness import generator as gen
from harness.errors import InputError
from nemesis.base import Nemesis
from nemesis.clock import ClockNemesis
from nemesis.compose import compose
from nemesis.grudge import GRUDGE_SPECS, grudge_for
from nemesis.membership import MembershipNemesis
from nemesis.packet import WORKING_KINDS, PacketNemesis, packet_fault
from nemesis.partition import PartitionNemesis
from nemesis.presets import get_preset
from nemesis.process import KillNemesis, PauseNemesis
from nemesis.status import NodeAPI
from nemesis.targets import resolve_targets
from nemesis.windows import FAMILIES

OpDict = Mapping[str, Any]
DEFAULT_INTERVAL_S: Final = 10.0
PROCESS_TARGETS: Final = ("one", "primaries", "minority-third", "minority", "majority", "all")
FAULT_TARGETS: Final = ("one", "primaries", "minority", "majority", "all")
ENTRY_POINT_GROUP: Final = "raft_chaos.nemeses"
HEAL_ORDER: Final = ("pause", "kill", "partition", "packet", "clock", "membership")
HEAL_ATTEMPTS: Final = 10


@dataclass(frozen=True, slots=True)
class FaultKind:
    """One nemesis name: what it builds, its family, how its windows open and close."""

    name: str
    family: str
    make: Callable[[random.Random, NodeAPI | None], Nemesis]
    openers: tuple[OpDict, ...]  # one is drawn each time a window opens
    closer: OpDict  # closes the window and heals everything of this kind
    doc: str


BUILTIN_KINDS: Final[tuple[FaultKind, ...]] = (
    FaultKind(
        "partition", "partition", PartitionNemesis,
        tuple({"f": "start-partition", "value": s} for s in GRUDGE_SPECS),
        {"f": "stop-partition", "value": None},
        "network partitions: one, halves, minority-third, bridge, majorities-ring, primaries",
    ),
    FaultKind(
        "kill", "kill", KillNemesis,
        tuple({"f": "kill", "value": t} for t in PROCESS_TARGETS),
        {"f": "start", "value": "all"},
        "SIGKILL target nodes, later start every stopped node",
    ),
    FaultKind(
        "pause", "pause", PauseNemesis,
        tuple({"f": "pause", "value": t} for t in PROCESS_TARGETS),
        {"f": "resume", "value": "all"},
        "pause target nodes (SIGSTOP / docker pause), later resume them",
    ),
    FaultKind(
        "clock", "clock", ClockNemesis,
        tuple({"f": f, "value": {"targets": t}}
              for f in ("bump-clock", "strobe-clock", "rate-clock") for t in FAULT_TARGETS),
        {"f": "reset-clock", "value": {"targets": "all"}},
        "libfaketime clock faults: bump, strobe, rate; reset",
    ),
    FaultKind(
        "packet", "packet", PacketNemesis,
        tuple({"f": "start-packet", "value": {"targets": t, "kind": k}}
              for k in WORKING_KINDS for t in FAULT_TARGETS),
        {"f": "stop-packet", "value": None},
        "packet faults on what targets send: loss, rate (delay etc. where the kernel can)",
    ),
    FaultKind(
        "membership", "membership", MembershipNemesis,
        ({"f": "remove-node", "value": "one"},),
        {"f": "add-node", "value": "all"},
        "remove a member from the Raft group, later add every missing node back",
    ),
)
NONE: Final = "none"


@dataclass(frozen=True, slots=True)
class NemesisPackage:
    """A nemesis with its schedule, its healing schedule and its families (see module doc)."""

    name: str
    nemesis: Nemesis
    generator: gen.Generator | None  # None: no faults
    final_generator: gen.Generator | None
    families: tuple[str, ...]

    def teardown(self) -> None:
        """Heal everything the nemesis did (the runner calls this on every exit)."""
        self.nemesis.teardown()


def fault_kinds() -> dict[str, FaultKind]:
    """Every nemesis name: the built-in kinds, then those registered by entry points."""
    kinds = {k.name: k for k in BUILTIN_KINDS}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        kind = ep.load()
        if not isinstance(kind, FaultKind):
            raise InputError(f"entry point {ep.name} ({ep.value}) in {ENTRY_POINT_GROUP} is "
                             "not a nemesis.packages.FaultKind")
        kinds.setdefault(kind.name, kind)
    return kinds


def nemesis_names() -> list[str]:
    """The names ``--nemesis`` accepts."""
    return [*fault_kinds(), NONE]


def build_package(
    names: Sequence[str],
    *,
    interval_s: float | None = None,
    preset: str | None = None,
    nodes: Sequence[str],
    seed: int = 0,
    api: NodeAPI | None = None,
) -> NemesisPackage:
    """Combine the named nemeses (or a preset's) into one package; see module docstring.

    ``interval_s`` defaults to the preset's, else 10 s. ``seed`` (the test's) seeds each
    nemesis's own rng, so the same seed gives the same faults. ``api`` reaches the nodes'
    status and admin API (default: raftkv over HTTP). Raises InputError for an unknown
    name or preset, a bad interval, or a spec that does not fit ``nodes``.
    """
    kinds = fault_kinds()
    chosen = [n.strip() for n in names if n.strip()]
    openers: Mapping[str, tuple[OpDict, ...]] = {}
    schedule: tuple[tuple[float, OpDict], ...] = ()
    if preset is not None:
        p = get_preset(preset)
        if chosen in ([], [NONE]):  # no nemesis named (or the default, none): the preset's
            chosen = list(p.nemeses)
            schedule = p.schedule
        interval_s = p.interval_s if interval_s is None else interval_s
        openers = p.openers
    interval = DEFAULT_INTERVAL_S if interval_s is None else interval_s
    if not interval > 0:
        raise InputError(f"--nemesis-interval must be positive, not {interval_s}")
    unknown = [n for n in chosen if n not in kinds and n != NONE]
    if unknown:
        raise InputError(f"unknown nemesis {', '.join(unknown)}; "
                         f"choose from {', '.join(nemesis_names())}")
    if len(set(chosen)) != len(chosen):
        raise InputError(f"nemesis named twice in {','.join(chosen)}")
    if NONE in chosen and len(chosen) > 1:
        raise InputError("nemesis 'none' cannot be combined with other nemeses")
    used = [kinds[n] for n in chosen if n != NONE]
    name = preset or ",".join(chosen) or NONE
    if not used:
        return NemesisPackage(name, compose([]), None, None, ())
    nemesis = compose([k.make(random.Random(f"{seed}:{k.name}"), api) for k in used])
    if schedule:
        for _, op in schedule:
            if op["f"] not in nemesis.fs():
                raise InputError(f"preset {preset}: no nemesis of {name} does {op['f']}")
            check_spec(op, list(nodes))
        generator = gen.cycle(*(gen.seq(gen.sleep(after_s, jitter=0.5), gen.once(op))
                                for after_s, op in schedule))
    else:
        schedules = []
        for kind in used:
            opening = tuple(openers.get(kind.name, kind.openers))
            for op in opening:
                check_spec(op, list(nodes))
            drawn = gen.limit(1, gen.mix([gen.once(o) for o in opening]))
            schedules.append(_paced(interval, drawn, gen.once(kind.closer)))
        generator = gen.any_of(*schedules)
    final = [_healing(k.closer) for k in sorted(used, key=_heal_rank)]
    if any(k.family == "clock" for k in used):
        final.append(gen.once({"f": "check-clock-offsets", "value": None}))
    order = [f.name for f in FAMILIES]
    families = tuple(sorted({k.family for k in used},
                            key=lambda f: order.index(f) if f in order else len(order)))
    return NemesisPackage(name, nemesis, gen.nemesis(generator), gen.nemesis(gen.seq(*final)),
                          families)


def _paced(interval_s: float, *steps: gen.Generator) -> gen.Generator:
    """The steps in turn, forever, each after a gap uniform in [0, 2*interval) (the
    first one too)."""
    return gen.seq(gen.sleep(interval_s, jitter=1.0),
                   gen.stagger(interval_s, gen.cycle(*steps)))


def _healing(closer: OpDict) -> gen.Generator:
    """The closing op, again each second until it completes ok (at most ``HEAL_ATTEMPTS``
    times): re-adding a member, say, needs the leader the healed network elects."""
    return gen.until_ok(gen.limit(HEAL_ATTEMPTS, gen.delay(1.0, gen.repeat(closer))))


def _heal_rank(kind: FaultKind) -> int:
    """Heal in an order where each step can work: thaw and start nodes before the network
    heals, and change membership last, once there is a leader again."""
    return HEAL_ORDER.index(kind.family) if kind.family in HEAL_ORDER else len(HEAL_ORDER)


def check_spec(op: OpDict, nodes: list[str]) -> None:
    """Raise InputError when an op's spec cannot work on ``nodes`` (checked before a run)."""
    value = op.get("value")
    try:
        if op["f"] == "start-partition":
            grudge_for(value if value is not None else "halves", nodes, random.Random(0))
            return
        args = value if isinstance(value, Mapping) else {"targets": value}
        targets = args.get("targets")
        if targets is not None:
            resolve_targets(targets, nodes, random.Random(0))
        if op["f"] == "start-packet":
            packet_fault(args)
    except (ValueError, TypeError) as e:
        raise InputError(f"nemesis op {op['f']} {value!r}: {e}") from e
