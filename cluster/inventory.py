"""The SSH backend's inventory: which machines run which node, and how to reach them.

An inventory is a TOML file. ``[ssh]`` holds connection settings shared by every node,
``[defaults]`` holds per-node settings every ``[[nodes]]`` entry inherits, and each
``[[nodes]]`` entry is one raftkv node; the k-th entry is node ``n<k>`` (raft id k)::

    [ssh]
    known_hosts = "~/.ssh/known_hosts"   # where host keys are verified (and recorded)
    connect_timeout_s = 10
    keepalive_s = 15

    [defaults]
    user = "root"
    key_file = "~/.ssh/id_ed25519"
    data_dir = "/var/lib/raft-chaos"

    [[nodes]]
    host = "10.0.0.11"

    [[nodes]]
    host = "db2.staging"
    address = "10.0.0.12"                # the IP its peers and the harness reach it on
    interface = "ens4"                   # packet faults shape it; default: the one
                                         # that holds the node's address

Validation is strict (unknown keys, wrong types, duplicates, relative remote paths are
errors), and every problem is one :class:`~harness.errors.InputError` line naming the
file and the entry. Local paths (``key_file``, ``known_hosts``) may use ``~`` and are
relative to the inventory's folder. :func:`parse_inventory` is pure;
:func:`load_inventory` reads the file and checks that the local files it names exist.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from harness.errors import InputError

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_KEEPALIVE_S = 15.0

SSH_KEYS = frozenset({"known_hosts", "connect_timeout_s", "keepalive_s"})
NODE_KEYS = frozenset({
    "host", "port", "user", "key_file", "data_dir", "sudo", "address",
    "client_port", "raft_port", "interface",
})
TOP_KEYS = frozenset({"ssh", "defaults", "nodes"})


@dataclass(frozen=True, slots=True)
class InventoryNode:
    """One raftkv node on one machine, as the inventory describes it."""

    name: str  # "n1".."nK", by position in the file
    host: str  # what SSH connects to (name or IP)
    data_dir: PurePosixPath  # on the remote machine; binaries, data, logs live under it
    port: int = 22
    user: str = "root"
    key_file: Path | None = None  # None: the SSH agent and the default keys
    sudo: bool = False  # wrap privileged commands in `sudo -n --`
    address: str | None = None  # IP peers use; None: `host` (resolved if a name)
    client_port: int = 8000
    raft_port: int = 9000
    interface: str | None = None  # for tc; None: the interface that holds `address`

    @property
    def ssh_label(self) -> str:
        """How messages name this node: ``n2 (root@10.0.0.12:22)``."""
        return f"{self.name} ({self.user}@{self.host}:{self.port})"


@dataclass(frozen=True, slots=True)
class Inventory:
    """A validated inventory file."""

    path: Path
    nodes: tuple[InventoryNode, ...]
    known_hosts: Path
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    keepalive_s: float = DEFAULT_KEEPALIVE_S

    def first(self, count: int) -> tuple[InventoryNode, ...]:
        """The first ``count`` nodes, or an InputError when the file lists fewer."""
        if count < 1:
            raise InputError(f"inventory {self.path}: a cluster needs at least one node")
        if count > len(self.nodes):
            raise InputError(
                f"inventory {self.path}: the test needs {count} nodes "
                f"but the inventory lists {len(self.nodes)}")
        return self.nodes[:count]


def load_inventory(path: Path) -> Inventory:
    """Read, parse and validate an inventory file; every problem is one InputError line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"inventory {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"inventory {path}: cannot read: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"inventory {path}: not valid TOML: {e}") from None
    inventory = parse_inventory(data, source=path)
    for node in inventory.nodes:
        if node.key_file is not None and not node.key_file.is_file():
            raise InputError(
                f"inventory {path}: {node.name}: key_file {node.key_file} does not exist")
    return inventory


def parse_inventory(data: Mapping[str, Any], *, source: Path) -> Inventory:
    """Validate parsed TOML into an :class:`Inventory` (pure: touches no file)."""
    where = _Where(source)
    _reject_unknown(data, TOP_KEYS, where, "the top level")
    ssh = _table(data, "ssh", where)
    _reject_unknown(ssh, SSH_KEYS, where, "[ssh]")
    defaults = _table(data, "defaults", where)
    _reject_unknown(defaults, NODE_KEYS, where, "[defaults]")
    if "host" in defaults or "address" in defaults:
        raise where.error("[defaults]: host and address are per node, not defaults")

    entries = data.get("nodes")
    if not isinstance(entries, list) or not entries:
        raise where.error("no nodes: add one [[nodes]] table per machine")
    nodes: list[InventoryNode] = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise where.error(f"nodes[{i}] must be a table ([[nodes]])")
        _reject_unknown(entry, NODE_KEYS, where, f"nodes[{i}]")
        nodes.append(_node(f"n{i}", {**defaults, **entry}, where.at(f"nodes[{i}] (n{i})")))
    _reject_clashes(nodes, where)

    return Inventory(
        path=source,
        nodes=tuple(nodes),
        known_hosts=_local_path(ssh.get("known_hosts", str(DEFAULT_KNOWN_HOSTS)),
                                "known_hosts", where.at("[ssh]")),
        connect_timeout_s=_positive(ssh, "connect_timeout_s", DEFAULT_CONNECT_TIMEOUT_S,
                                    where.at("[ssh]")),
        keepalive_s=_positive(ssh, "keepalive_s", DEFAULT_KEEPALIVE_S, where.at("[ssh]")),
    )


@dataclass(frozen=True, slots=True)
class _Where:
    """Where in which file a problem is, so every error names both."""

    source: Path
    entry: str = ""

    def at(self, entry: str) -> _Where:
        return _Where(self.source, entry)

    def error(self, problem: str) -> InputError:
        prefix = f"inventory {self.source}: "
        return InputError(prefix + (f"{self.entry}: {problem}" if self.entry else problem))


def _node(name: str, raw: Mapping[str, Any], where: _Where) -> InventoryNode:
    host = _string(raw, "host", where, required=True)
    assert host is not None
    if host.startswith("-") or any(c.isspace() for c in host):
        raise where.error(f"host {host!r} is not a host name or address")
    data_dir = _string(raw, "data_dir", where, required=True)
    assert data_dir is not None
    address = _string(raw, "address", where)
    if address is not None:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise where.error(f"address {address!r} is not an IP address") from None
    interface = _string(raw, "interface", where)
    if interface is not None and not _is_interface_name(interface):
        raise where.error(f"interface {interface!r} is not a network interface name "
                          "(at most 15 characters, no spaces or '/')")
    key_file = _string(raw, "key_file", where)
    user = _string(raw, "user", where) or "root"
    if user.startswith("-") or "@" in user:
        raise where.error(f"user {user!r} is not a user name")
    sudo = raw.get("sudo", False)
    if not isinstance(sudo, bool):
        raise where.error(f"sudo must be true or false, not {sudo!r}")
    return InventoryNode(
        name=name,
        host=host,
        data_dir=_remote_dir(data_dir, where),
        port=_port(raw, "port", 22, where),
        user=user,
        key_file=None if key_file is None else _local_path(key_file, "key_file", where),
        sudo=sudo,
        address=address,
        client_port=_port(raw, "client_port", 8000, where),
        raft_port=_port(raw, "raft_port", 9000, where),
        interface=interface,
    )


def _is_interface_name(name: str) -> bool:
    """What Linux accepts as an interface name (and no option for the tools it goes to)."""
    return (0 < len(name) <= 15 and name not in (".", "..") and not name.startswith("-")
            and not any(c == "/" or c == ":" or c.isspace() or not c.isprintable()
                        for c in name))


def _reject_clashes(nodes: list[InventoryNode], where: _Where) -> None:
    """Two nodes may share a machine, but not a data directory or a listening port."""
    seen: dict[tuple[object, ...], str] = {}
    for node in nodes:
        ip = node.address or node.host
        claims = [
            (("data_dir", node.host, node.port, str(node.data_dir)), f"data_dir {node.data_dir}"),
            (("port", ip, node.client_port), f"client_port {node.client_port} on {ip}"),
            (("port", ip, node.raft_port), f"raft_port {node.raft_port} on {ip}"),
        ]
        if node.client_port == node.raft_port:
            raise where.at(node.name).error("client_port and raft_port must differ")
        for key, what in claims:
            if key in seen:
                raise where.at(node.name).error(f"{what} is already used by {seen[key]}")
            seen[key] = node.name


def _reject_unknown(table: Mapping[str, Any], allowed: frozenset[str], where: _Where,
                    what: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise where.error(
            f"unknown key {unknown[0]!r} in {what} (expected one of: {', '.join(sorted(allowed))})")


def _table(data: Mapping[str, Any], key: str, where: _Where) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise where.error(f"[{key}] must be a table")
    return value


def _string(raw: Mapping[str, Any], key: str, where: _Where, *,
            required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise where.error(f"missing {key!r}")
        return None
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"{key} must be a non-empty string, not {value!r}")
    return value.strip()


def _port(raw: Mapping[str, Any], key: str, default: int, where: _Where) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise where.error(f"{key} must be a port number (1-65535), not {value!r}")
    return value


def _positive(raw: Mapping[str, Any], key: str, default: float, where: _Where) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise where.error(f"{key} must be a positive number of seconds, not {value!r}")
    return float(value)


def _remote_dir(value: str, where: _Where) -> PurePosixPath:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts or path == PurePosixPath("/"):
        raise where.error(f"data_dir {value!r} must be an absolute directory other than /")
    return path


def _local_path(value: object, key: str, where: _Where) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"{key} must be a non-empty string, not {value!r}")
    path = Path(value.strip()).expanduser()
    return path if path.is_absolute() else where.source.parent / path
