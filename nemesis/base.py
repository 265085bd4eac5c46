"""The nemesis protocol: three methods, like Jepsen's.

``setup`` prepares (and may inspect) the cluster, ``invoke`` takes a nemesis op
(``process == "nemesis"``, ``type == "invoke"``) and returns its completion saying
exactly what was done (which nodes, which rules), ``teardown`` heals everything it
ever did. A nemesis never records history; the harness records what it was told and
what came back.
"""

from __future__ import annotations

from typing import Protocol

from cluster.base import Cluster
from harness.op import Op


class Nemesis(Protocol):
    def setup(self, cluster: Cluster) -> None: ...

    def invoke(self, op: Op) -> Op: ...

    def teardown(self) -> None: ...

    def fs(self) -> frozenset[str]:
        """The ``f`` values this nemesis owns; composition routes ops by them."""
        ...
