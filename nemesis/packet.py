"""Packet faults on target nodes: delay, loss, duplicate, reorder, corrupt, rate.

``start-packet`` takes ``{"targets": spec, "kind": name}`` (a kind from ``KINDS``) or
``{"targets": spec, "fault": {PacketFault fields}}``; a bare target spec means the
``loss`` kind. It replaces any packet fault in force, then applies the fault to what
each target sends. The completion lists each target and the backend's own description
of the rules it applied (e.g. ``iptables statistic``, ``tbf``, ``NFQUEUE delayer``).
``stop-packet`` removes every packet fault and lists what it removed.

Loss (an iptables ``statistic`` rule) and rate (a ``tbf`` qdisc) work on any kernel;
the rest want ``sch_netem`` (delay and reorder also work through the backend's
userspace delayer). Where a kind cannot be applied the backend raises, and the op
completes ``fail`` (nothing applied) or ``info`` (applied on some nodes only) with the
reason: never silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Final

from cluster.base import PacketFault
from harness.op import Op
from nemesis.completion import apply_each, completed, one_line, refused
from nemesis.resolve import ClusterNemesis

PACKET_FS: Final = frozenset({"start-packet", "stop-packet"})

KINDS: Final[Mapping[str, PacketFault]] = {
    "delay": PacketFault(delay_ms=50, jitter_ms=10),
    "loss": PacketFault(loss_pct=20),
    "duplicate": PacketFault(duplicate_pct=10),
    "reorder": PacketFault(delay_ms=20, reorder_pct=25),
    "corrupt": PacketFault(corrupt_pct=5),
    "rate": PacketFault(rate_kbit=256),
}
WORKING_KINDS: Final = ("loss", "rate")  # need nothing beyond iptables and tbf


def packet_fault(args: Mapping[str, Any]) -> PacketFault:
    """The fault a ``start-packet`` value asks for; raises ValueError naming what is wrong."""
    if "fault" in args:
        spec = args["fault"]
        names = {f.name for f in fields(PacketFault)}
        if not isinstance(spec, Mapping) or not set(spec) <= names:
            raise ValueError(f"packet fault {spec!r} must map some of {', '.join(sorted(names))}"
                             " to numbers")
        return PacketFault(**spec)
    kind = args.get("kind", "loss")
    if kind not in KINDS:
        raise ValueError(f"packet kind {kind!r} is not one of {', '.join(KINDS)}")
    return KINDS[kind]


class PacketNemesis(ClusterNemesis):
    """Applies and clears packet faults (see module docstring)."""

    FS = PACKET_FS

    def invoke(self, op: Op) -> Op:
        cluster = self.cluster
        if op.f == "stop-packet":
            try:
                return completed(op, {"removed": cluster.clear_packet_faults()})
            except Exception as e:
                return completed(op, {"removed": []}, {"clear": one_line(e)})
        args: Mapping[str, Any] = (
            op.value if isinstance(op.value, Mapping) else {"targets": op.value}
        )
        spec = args.get("targets") or "one"
        try:
            fault = packet_fault(args)
            nodes = self.targets(spec)
        except (ValueError, TypeError) as e:
            return refused(op, one_line(e))
        if not nodes:
            return refused(op, "no target: no node claims leadership")
        value: dict[str, Any] = {"targets": spec, "fault": fault.to_dict()}
        if "kind" in args or "fault" not in args:
            value["kind"] = args.get("kind", "loss")
        try:
            replaced = cluster.clear_packet_faults()
        except Exception as e:
            return refused(op, f"could not clear earlier packet faults: {one_line(e)}", value)
        if replaced:
            value["replaced"] = replaced
        rules: list[str] = []
        applied = apply_each(nodes, lambda n: rules.extend(cluster.set_packet_fault(n, fault)))
        value["nodes"] = applied.done
        value["rules"] = rules
        if applied.done:
            return completed(op, value, applied.errors)
        try:  # make "nothing applied" true: undo any half-applied rule
            cluster.clear_packet_faults()
        except Exception as e:
            return completed(op, value, {**applied.errors, "clear": one_line(e)})
        return completed(op, value, applied.errors, anything_done=False)

    def teardown(self) -> None:
        if self.is_set_up:
            self.cluster.clear_packet_faults()
