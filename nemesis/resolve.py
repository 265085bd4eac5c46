"""What every built-in nemesis shares, and resolving an op's spec when it runs.

Specs are data (``"one"``, ``"primaries"``, ``"majorities-ring"``, node lists).
:class:`ClusterNemesis` holds what turns them into nodes at invoke time: the nemesis's
own seeded ``random.Random``, the nodes' status API (asked only when a spec needs the
current leaders) and the cluster it was set up with. Subclasses add ``invoke`` and
``teardown`` and say which ``f`` values they own.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from cluster.base import Cluster
from nemesis.grudge import grudge_for
from nemesis.status import HttpNodeAPI, NodeAPI, leaders, poll_statuses
from nemesis.targets import needs_leaders, resolve_targets


class ClusterNemesis:
    """The shared part of a nemesis: rng, node API, cluster (see module docstring)."""

    FS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, rng: random.Random, api: NodeAPI | None = None) -> None:
        self.rng = rng
        self.api: NodeAPI = api if api is not None else HttpNodeAPI()
        self._cluster: Cluster | None = None

    def fs(self) -> frozenset[str]:
        return self.FS

    def setup(self, cluster: Cluster) -> None:
        self._cluster = cluster

    @property
    def is_set_up(self) -> bool:
        return self._cluster is not None

    @property
    def cluster(self) -> Cluster:
        """The cluster this nemesis was set up with; using it before ``setup`` is a bug."""
        if self._cluster is None:
            raise RuntimeError(f"{type(self).__name__} used before setup(cluster)")
        return self._cluster

    def node_names(self) -> list[str]:
        return [node.name for node in self.cluster.nodes()]

    def current_leaders(self) -> list[str]:
        """Every node that claims leadership now (asked through the status API)."""
        return leaders(poll_statuses(self.api, self.cluster.nodes()))

    def targets(self, spec: Any) -> list[str]:
        """The nodes a target spec names now; raises ValueError for a bad spec."""
        found = self.current_leaders() if needs_leaders(spec) else []
        return resolve_targets(spec, self.node_names(), self.rng, found)

    def grudge(self, spec: Any) -> dict[str, frozenset[str]]:
        """The grudge a partition spec names now; raises ValueError for a bad spec."""
        found = self.current_leaders() if spec == "primaries" else []
        return grudge_for(spec, self.node_names(), self.rng, found)
