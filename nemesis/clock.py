"""Clock faults through libfaketime: bump, strobe, rate, reset, and a check of offsets.

Each raftkv node runs with libfaketime preloaded; the backend writes the node's
:class:`cluster.base.ClockSetting` (an offset and a rate) to its control file, which
fakes the wall *and* the monotonic clock, so the skew reaches raftkv's Raft ticks and
its leader lease. The ops (values are a target spec, or a mapping with ``targets`` and
the parameters below; missing parameters are drawn from this nemesis's seeded rng):

=======================  ==========================================================
``bump-clock``           add ``delta_ms`` (an int, or ``[lo, hi]``) to the offset
``strobe-clock``         flip the offset between ``+delta_ms`` and its base every
                         ``period_ms``, in the background, until ``reset-clock``
``rate-clock``           run the clock at ``rate`` times real time (0.5 = slow)
``reset-clock``          real time again on the targets (default: all nodes)
``check-clock-offsets``  each node's clock (``clock_ms`` from its status) minus the
                         harness's wall clock; changes nothing
=======================  ==========================================================
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from cluster.base import ClockSetting
from harness.op import Op
from nemesis.completion import Applied, apply_each, completed, one_line, refused
from nemesis.resolve import ClusterNemesis
from nemesis.status import NodeAPI, clock_offsets

CLOCK_FS: Final = frozenset(
    {"bump-clock", "strobe-clock", "rate-clock", "reset-clock", "check-clock-offsets"}
)
RATES: Final = (0.25, 0.5, 0.8, 1.25, 2.0, 4.0)
SETTLE_S: Final = 1.2  # libfaketime re-reads its control file about once a second
SETTLED_WITHIN_MS: Final = 250


class ClockNemesis(ClusterNemesis):
    """Skews node clocks (see module docstring)."""

    FS = CLOCK_FS

    def __init__(self, rng: random.Random, api: NodeAPI | None = None,
                 settle_s: float | None = None) -> None:
        super().__init__(rng, api)
        self._settle_s = SETTLE_S if settle_s is None else settle_s
        self._clocks: dict[str, ClockSetting] = {}  # what this nemesis last set, per node
        self._lock = threading.Lock()  # the strobe thread sets clocks too
        self._strobe: _Strobe | None = None

    def invoke(self, op: Op) -> Op:
        """Apply the op; every completion that changed something also carries each node's
        measured offset afterwards (``offsets_ms``), as ``check-clock-offsets`` does."""
        if op.f == "check-clock-offsets":
            return op.with_(type="ok", value={"offsets_ms": self._measure()})
        done = self._change(op)
        if done.type == "fail" or not isinstance(done.value, Mapping):
            return done
        return done.with_(value={**done.value, "offsets_ms": self._settled_offsets()})

    def _measure(self) -> dict[str, int | None]:
        return clock_offsets(self.api, self.cluster.nodes())

    def _settled_offsets(self) -> dict[str, int | None]:
        """The offsets once the nodes have read their new settings: libfaketime re-reads
        its control file about once a second. While every clock runs at real speed the
        expected offsets are known, so poll until they show (or twice the settling
        time passed); otherwise measure once, after the settling time."""
        names = self.node_names()
        if self._strobe is not None or any(self._clock(n).rate != 1.0 for n in names):
            time.sleep(self._settle_s)
            return self._measure()
        expected = {n: self._clock(n).offset_ms for n in names}
        deadline = time.monotonic() + 2 * self._settle_s
        while True:
            offsets = self._measure()
            settled = all(abs(offset - expected[n]) <= SETTLED_WITHIN_MS
                          for n, offset in offsets.items() if offset is not None)
            if settled or time.monotonic() >= deadline:
                return offsets
            time.sleep(0.1)

    def _change(self, op: Op) -> Op:
        args: Mapping[str, Any] = (
            op.value if isinstance(op.value, Mapping) else {"targets": op.value}
        )
        targets = args.get("targets") or ("all" if op.f == "reset-clock" else "one")
        try:
            nodes = self.targets(targets)
            if op.f == "reset-clock":
                return self._reset(op, nodes)
            if not nodes:
                return refused(op, "no target: no node claims leadership")
            if op.f == "strobe-clock":
                return self._start_strobe(op, nodes, args)
            if op.f == "bump-clock":
                deltas = {n: self._delta(args.get("delta_ms")) for n in nodes}
                return self._set(op, {n: _bumped(self._clock(n), deltas[n]) for n in nodes},
                                 {"delta_ms": deltas})
            rates = {n: self._rate(args.get("rate")) for n in nodes}
            return self._set(op, {n: replace(self._clock(n), rate=rates[n]) for n in nodes},
                             {"rate": rates})
        except ValueError as e:
            return refused(op, str(e))

    def teardown(self) -> None:
        if self.is_set_up:
            self._reset_nodes(self.node_names())

    # -- the ops ------------------------------------------------------------------

    def _clock(self, node: str) -> ClockSetting:
        return self._clocks.get(node, ClockSetting())

    def _set(self, op: Op, settings: Mapping[str, ClockSetting], params: dict[str, Any]) -> Op:
        self._stop_strobe()
        with self._lock:
            applied = apply_each(list(settings), lambda n: self._apply(n, settings[n]))
        value = {**params, "nodes": {n: _describe(settings[n]) for n in applied.done}}
        return completed(op, value, applied.errors, anything_done=applied.anything_done)

    def _apply(self, node: str, setting: ClockSetting) -> None:
        self.cluster.set_clock(node, setting)
        self._clocks[node] = setting

    def _reset(self, op: Op, nodes: Sequence[str]) -> Op:
        applied = self._reset_nodes(nodes)
        return completed(op, {"nodes": applied.done}, applied.errors,
                         anything_done=applied.anything_done)

    def _reset_nodes(self, nodes: Sequence[str]) -> Applied:
        self._stop_strobe()
        with self._lock:
            return apply_each(nodes, lambda n: self._apply(n, ClockSetting()))

    def _start_strobe(self, op: Op, nodes: Sequence[str], args: Mapping[str, Any]) -> Op:
        self._stop_strobe()
        delta = self._delta(args.get("delta_ms"))
        period_ms = int(args.get("period_ms") or self.rng.choice((50, 100, 200, 500)))
        if period_ms <= 0:
            raise ValueError(f"period_ms must be positive, not {period_ms}")
        base = {n: self._clock(n) for n in nodes}
        strobe = _Strobe(self._apply, self._lock, base, delta, period_ms / 1000)
        strobe.flip()  # the first flip happens now, so errors show in the completion
        if strobe.errors and len(strobe.errors) == len(nodes):
            return completed(op, {"nodes": []}, strobe.errors, anything_done=False)
        strobe.thread.start()
        self._strobe = strobe
        value = {"nodes": sorted(base, key=list(nodes).index), "delta_ms": delta,
                 "period_ms": period_ms}
        return completed(op, value, strobe.errors)

    def _stop_strobe(self) -> None:
        if self._strobe is not None:
            self._strobe.stop()
            self._strobe = None

    # -- parameters ---------------------------------------------------------------

    def _delta(self, spec: Any) -> int:
        """A clock bump in ms: given, drawn from ``[lo, hi]``, or log-uniform +/-0.1..16 s."""
        if isinstance(spec, int) and not isinstance(spec, bool):
            return spec
        if isinstance(spec, list | tuple) and len(spec) == 2:
            lo, hi = sorted(int(x) for x in spec)
            return self.rng.randint(lo, hi)
        if spec is None:
            return int(2 ** self.rng.uniform(7, 14)) * self.rng.choice((-1, 1))
        raise ValueError(f"delta_ms {spec!r} must be an integer or [lo, hi]")

    def _rate(self, spec: Any) -> float:
        if spec is None:
            return self.rng.choice(RATES)
        if isinstance(spec, list | tuple) and spec:
            return float(self.rng.choice(list(spec)))
        if isinstance(spec, int | float) and not isinstance(spec, bool) and spec > 0:
            return float(spec)
        raise ValueError(f"rate {spec!r} must be a positive number or a list to pick from")


class _Strobe:
    """The background flipping of a strobe-clock, until stopped."""

    def __init__(self, apply: Callable[[str, ClockSetting], None], lock: threading.Lock,
                 base: Mapping[str, ClockSetting], delta_ms: int, period_s: float) -> None:
        self._apply, self._lock = apply, lock
        self.base, self.delta_ms, self.period_s = base, delta_ms, period_s
        self.errors: dict[str, str] = {}
        self._up = False
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="strobe-clock", daemon=True)

    def flip(self) -> None:
        self._up = not self._up
        with self._lock:
            for node, base in self.base.items():
                try:
                    self._apply(node, _bumped(base, self.delta_ms) if self._up else base)
                except Exception as e:
                    self.errors[node] = one_line(e)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.flip()

    def stop(self) -> None:
        """Stop flipping and leave each node at its base setting."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join()
        if self._up:
            self.flip()


def _describe(setting: ClockSetting) -> dict[str, Any]:
    return {"offset_ms": setting.offset_ms, "rate": setting.rate}


def _bumped(setting: ClockSetting, delta_ms: int) -> ClockSetting:
    return replace(setting, offset_ms=setting.offset_ms + delta_ms)
