"""The partition nemesis: network partitions from grudges, applied by the backend.

``start-partition`` takes a partition spec (a name in ``nemesis.grudge.GRUDGE_SPECS``
or explicit data), resolves it to a grudge with this nemesis's seeded rng (and, for
``primaries``, the leaders found through the status API), heals any partition still in
force and applies the new grudge as per-node drop rules; the completion holds the
grudge and the rules. ``stop-partition`` removes every rule and lists them.
"""

from __future__ import annotations

from typing import Final

from harness.op import Op
from nemesis.completion import completed, one_line, refused
from nemesis.grudge import to_json
from nemesis.resolve import ClusterNemesis

PARTITION_FS: Final = frozenset({"start-partition", "stop-partition"})


class PartitionNemesis(ClusterNemesis):
    """Partitions the network by grudges (see module docstring)."""

    FS = PARTITION_FS

    def invoke(self, op: Op) -> Op:
        cluster = self.cluster
        if op.f == "stop-partition":
            try:
                removed = cluster.heal_network()
            except Exception as e:
                return completed(op, {"removed": []}, {"heal": one_line(e)})
            return completed(op, {"removed": removed})
        spec = op.value if op.value is not None else "halves"
        try:
            grudge = self.grudge(spec)
        except ValueError as e:
            return refused(op, str(e))
        if not any(grudge.values()):
            why = "no node claims leadership" if spec == "primaries" else "the grudge drops nothing"
            return refused(op, f"nothing to partition: {why}", {"partition": spec, "grudge": {}})
        value: dict[str, object] = {"partition": spec, "grudge": to_json(grudge)}
        try:
            replaced = cluster.heal_network()
            if replaced:
                value["replaced"] = replaced
            value["rules"] = cluster.partition(grudge)
        except Exception as e:
            return completed(op, value, {"partition": one_line(e)})
        return completed(op, value)

    def teardown(self) -> None:
        if self.is_set_up:
            self.cluster.heal_network()
