"""Choosing and making a cluster backend: ``docker``, ``local`` or ``ssh``.

:func:`make_cluster` builds the backend's :class:`cluster.base.Cluster` from a
:class:`~cluster.base.ClusterSpec`; :func:`choose_backend` picks Docker where an engine
answers and falls back to the local backend (with a note saying so) where none does.
Third-party backends register under the ``raft_chaos.backends`` entry point group as a
callable ``(spec) -> Cluster``. Backends also share :func:`slug_of`, the one way a
cluster name becomes part of container, namespace and bridge names.

Beyond the ``Cluster`` protocol, the built-in backends offer two optional abilities,
used by ``chaos cluster`` and the tests: :class:`Inspectable` (a node's process state
and its last log lines) and :class:`Enterable` (run programs inside a node's network
namespace).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import metadata
from typing import Protocol, runtime_checkable

from cluster.base import Cluster, ClusterSpec
from cluster.netfaults import NamespaceExec
from harness.errors import EnvironmentProblem, InputError

BUILTIN_BACKENDS = ("docker", "local", "ssh")
ENTRY_POINT_GROUP = "raft_chaos.backends"


@runtime_checkable
class Inspectable(Protocol):
    def node_state(self, node: str) -> str:
        """``running``, ``paused``, ``stopped`` (or ``missing``: no container)."""
        ...

    def log_tail(self, node: str, lines: int = 10) -> list[str]: ...


@runtime_checkable
class Enterable(Protocol):
    def exec_in(self, node: str) -> NamespaceExec:
        """Run programs in ``node``'s network namespace (the node must be running)."""
        ...


def slug_of(name: str) -> str:
    """A cluster name reduced to ``[a-z0-9-]``, at most 40 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    if not slug:
        raise InputError(f"cluster name {name!r} needs at least one letter or digit")
    return slug


def _plugin_backends() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> list[str]:
    return sorted({*BUILTIN_BACKENDS, *_plugin_backends()})


def make_cluster(backend: str, spec: ClusterSpec) -> Cluster:
    """The cluster of ``spec`` on ``backend`` (nothing is started until ``up()``)."""
    if backend == "docker":
        from cluster.docker import DockerCluster

        return DockerCluster(spec)
    if backend == "local":
        from cluster.local import LocalCluster

        return LocalCluster(spec)
    if backend == "ssh":
        try:
            from cluster.ssh import SshCluster
        except ImportError as e:
            raise EnvironmentProblem(f"the ssh backend cannot load ({e}): pip install "
                                     "paramiko, or use --backend docker or local") from e
        cluster: Cluster = SshCluster(spec)
        return cluster
    plugin = _plugin_backends().get(backend)
    if plugin is None:
        raise InputError(f"unknown backend {backend!r}; choose one of "
                         f"{', '.join(backend_names())}")
    factory: Callable[[ClusterSpec], Cluster] = plugin.load()
    return factory(spec)


def docker_problem() -> str | None:
    """None when a Docker engine answers, else why not (one line)."""
    from cluster.docker import engine_problem

    return engine_problem()


def choose_backend(requested: str | None) -> tuple[str, str | None]:
    """The backend to use and, when it fell back from Docker, a one-line note why."""
    if requested:
        if requested not in backend_names():
            raise InputError(f"unknown backend {requested!r}; choose one of "
                             f"{', '.join(backend_names())}")
        return requested, None
    problem = docker_problem()
    if problem is None:
        return "docker", None
    return "local", f"{problem}; using the local backend (processes in network namespaces)"
