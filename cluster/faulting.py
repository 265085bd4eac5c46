"""What every backend does the same way with faults: delegate the network to
:class:`cluster.netfaults.NetworkFaults`, and heal.

A backend mixes :class:`SharedFaults` in and supplies the node-level primitives it
already has (``nodes``, ``node_state``, ``resume``, ``clock``, ``set_clock``, and a
``faults`` attribute). ``heal`` is then the one definition of healing for all
backends: network rules and qdiscs first, then each node resumed if paused and its
clock reset if skewed; it says what it undid. A backend that reaches its nodes slowly
(SSH) may override :meth:`heal_nodes` to heal them in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence

from cluster.base import ClockSetting, Grudge, Node, PacketFault
from cluster.netfaults import NetworkFaults


class SharedFaults:
    """Mixin: network faults through ``self.faults``, and the shared ``heal``."""

    faults: NetworkFaults

    # the primitives each backend provides
    def nodes(self) -> Sequence[Node]:
        raise NotImplementedError

    def node_state(self, node: str) -> str:
        raise NotImplementedError

    def resume(self, node: str) -> None:
        raise NotImplementedError

    def clock(self, node: str) -> ClockSetting:
        raise NotImplementedError

    def set_clock(self, node: str, clock: ClockSetting) -> None:
        raise NotImplementedError

    # network faults

    def partition(self, grudge: Grudge) -> list[str]:
        return self.faults.partition(grudge)

    def heal_network(self) -> list[str]:
        return self.faults.heal_network()

    def set_packet_fault(self, node: str, fault: PacketFault,
                         peers: Sequence[str] = ()) -> list[str]:
        return self.faults.set_packet_fault(node, fault, peers)

    def clear_packet_faults(self) -> list[str]:
        return self.faults.clear_packet_faults()

    # healing

    def heal_node(self, node: str) -> list[str]:
        """Resume the node if paused and reset its clock if skewed; says what it did."""
        done = []
        if self.node_state(node) == "paused":
            self.resume(node)
            done.append(f"{node}: resumed")
        if not self.clock(node).is_real:
            self.set_clock(node, ClockSetting())
            done.append(f"{node}: clock reset")
        return done

    def heal_nodes(self) -> list[str]:
        return [line for n in self.nodes() for line in self.heal_node(n.name)]

    def heal(self) -> list[str]:
        """Undo every fault (rules, qdiscs, pauses, clocks); idempotent."""
        return self.heal_network() + self.clear_packet_faults() + self.heal_nodes()
