"""The cluster interface every backend implements, and the plain data it speaks in.

A *grudge* is a partition as data: it maps each node name to the node names it refuses
to hear from (see ``nemesis.grudge``). Packet faults and clock settings are plain
frozen dataclasses too, so a nemesis completion can say exactly what was applied.

Backends apply network faults from the host inside each node's network namespace
(iptables in the filter table, tc qdiscs) and clocks through libfaketime's control
file; ``heal`` undoes every fault and is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Grudge = Mapping[str, Set[str]]


@dataclass(frozen=True, slots=True)
class Node:
    """One node of a cluster as the harness addresses it."""

    name: str  # "n1"
    id: int  # raft id, 1-based
    ip: str  # the node's own address, as its peers see it
    client_port: int = 8000
    raft_port: int = 9000

    @property
    def client_addr(self) -> str:
        return f"{self.ip}:{self.client_port}"

    @property
    def raft_addr(self) -> str:
        return f"{self.ip}:{self.raft_port}"


@dataclass(frozen=True, slots=True)
class PacketFault:
    """A packet fault on a node's interface. Zero fields mean 'not applied'."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    duplicate_pct: float = 0.0
    reorder_pct: float = 0.0
    corrupt_pct: float = 0.0
    rate_kbit: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k)}


@dataclass(frozen=True, slots=True)
class ClockSetting:
    """A node's clock as libfaketime sees it: an offset and a rate (1.0 = real time)."""

    offset_ms: int = 0
    rate: float = 1.0

    @property
    def is_real(self) -> bool:
        return self.offset_ms == 0 and self.rate == 1.0

    def to_faketime(self) -> str:
        """The control-file line libfaketime reads, e.g. ``+1500ms`` is written as ``+1.5``."""
        spec = f"{self.offset_ms / 1000:+.3f}"
        if self.rate != 1.0:
            spec += f" x{self.rate:g}"
        return spec


class Cluster(Protocol):
    """The nodes and what can be done to them. Every method names nodes by ``Node.name``."""

    name: str  # e.g. the compose project name; unique per run

    def nodes(self) -> Sequence[Node]: ...

    def up(self) -> None:
        """Start every node and wait until each answers its status endpoint."""

    def down(self) -> None:
        """Stop every node and remove everything the backend created."""

    def start(self, node: str) -> None: ...

    def kill(self, node: str) -> None:
        """SIGKILL the node's process."""

    def stop(self, node: str) -> None:
        """SIGTERM the node's process and wait for it to exit."""

    def pause(self, node: str) -> None: ...

    def resume(self, node: str) -> None: ...

    def is_running(self, node: str) -> bool: ...

    def partition(self, grudge: Grudge) -> list[str]:
        """Apply a grudge as per-node drop rules; returns a description of each rule."""

    def heal_network(self) -> list[str]:
        """Remove every partition rule; returns what was removed."""

    def set_packet_fault(self, node: str, fault: PacketFault) -> list[str]: ...

    def clear_packet_faults(self) -> list[str]: ...

    def set_clock(self, node: str, clock: ClockSetting) -> None: ...

    def heal(self) -> list[str]:
        """Undo every fault (rules, qdiscs, pauses, clocks); idempotent; says what it removed."""

    def collect_logs(self, dest: Path) -> None:
        """Copy each node's logs into ``dest/<node>/``."""


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """What to bring up: plain data, built from the Test by the runner or by `chaos cluster`.

    ``name`` is unique per run (the Compose project name, the namespace prefix) so two
    runs on one host never collide. ``run_dir`` is where the backend keeps node data,
    clock control files and logs. ``unsafe`` names raftkv's deliberate defects to switch
    on (``stale-reads``, ``lease-ignore-drift``, ``ack-before-commit``, ``no-fsync``).
    """

    name: str
    nodes: int
    run_dir: Path
    read_mode: str = "index"
    unsafe: tuple[str, ...] = ()
    image: str = "raftkv:latest"
    inventory: Path | None = None  # ssh backend only
    accept_new_host_keys: bool = False  # ssh backend only
    health_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        # Backends hand these paths to other programs (Compose bind mounts, namespaced
        # processes), which resolve relative paths differently or not at all.
        object.__setattr__(self, "run_dir", self.run_dir.absolute())
        if self.inventory is not None:
            object.__setattr__(self, "inventory", self.inventory.absolute())
