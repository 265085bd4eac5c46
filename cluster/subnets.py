"""Choosing a free /24 for a cluster's private network.

Each cluster (a Compose project, or a local bridge) gets its own /24 so two runs on
one host never collide. A candidate is free when it overlaps no route of the host
(which covers every up bridge, Docker's included) and no Docker network's IPAM subnet
(which covers networks whose bridge is down). Choosing and creating happen under one
host-wide lock (:func:`subnet_lock`), so concurrent runs do not pick the same one.
Node ``k`` is ``<net>.1<k>`` (``.11`` .. ``.19``); a local bridge's host side is ``<net>.1``.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import subprocess
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Network
from pathlib import Path

from harness.errors import EnvironmentProblem

DOCKER_POOL = IPv4Network("172.28.0.0/16")  # the compose file's default RAFTKV_NET
LOCAL_POOL = IPv4Network("10.213.0.0/16")
MAX_NODES = 9
LOCK_FILE = Path("/run/lock/raft-chaos-subnets.lock")


@contextlib.contextmanager
def subnet_lock() -> Iterator[None]:
    """Hold the host-wide lock under which a subnet is chosen and put to use."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def candidates(pool: IPv4Network) -> Iterator[IPv4Network]:
    return pool.subnets(new_prefix=24)


def pick_subnet(used: Iterable[IPv4Network], pool: IPv4Network,
                skip: Iterable[IPv4Network] = ()) -> IPv4Network:
    """The first /24 of ``pool`` overlapping nothing in ``used`` or ``skip``."""
    taken = [*used, *skip]
    for subnet in candidates(pool):
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise EnvironmentProblem(f"no free /24 subnet left in {pool}: remove leftover clusters "
                             "(chaos cluster down --all) or unused docker networks")


def net_prefix(subnet: IPv4Network) -> str:
    """The first three octets (``RAFTKV_NET``), e.g. ``172.28.3``."""
    return str(subnet.network_address).rsplit(".", 1)[0]


def node_ip(subnet: IPv4Network, node_id: int) -> str:
    if not 1 <= node_id <= MAX_NODES:
        raise ValueError(f"node id {node_id} outside 1..{MAX_NODES}")
    return f"{net_prefix(subnet)}.{10 + node_id}"


def gateway_ip(subnet: IPv4Network) -> str:
    return f"{net_prefix(subnet)}.1"


def routes_in_use(route_json: str) -> list[IPv4Network]:
    """IPv4 destinations of ``ip -j route show`` output (the default route excluded)."""
    nets = []
    for route in json.loads(route_json or "[]"):
        dst = route.get("dst", "")
        if not dst or dst == "default":
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if isinstance(net, IPv4Network):
            nets.append(net)
    return nets


def host_routes() -> list[IPv4Network]:
    """Every IPv4 destination routed by this host's main table."""
    try:
        out = subprocess.run(["ip", "-j", "-4", "route", "show"], capture_output=True,
                             text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise EnvironmentProblem(f"cannot list host routes (ip -j route): {e}; "
                                 "install iproute2") from e
    return routes_in_use(out)


def docker_subnets(ipam_configs: Iterable[dict[str, str]]) -> list[IPv4Network]:
    """The IPv4 subnets of Docker networks' ``IPAM.Config`` entries."""
    nets = []
    for config in ipam_configs:
        try:
            net = ipaddress.ip_network(config.get("Subnet", ""), strict=False)
        except ValueError:
            continue
        if isinstance(net, IPv4Network):
            nets.append(net)
    return nets
