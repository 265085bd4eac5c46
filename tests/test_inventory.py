"""The SSH inventory: a valid file parses into nodes n1..nK; every bad one is one clear line."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from cluster.inventory import DEFAULT_CONNECT_TIMEOUT_S, Inventory, load_inventory
from harness.errors import EXIT_USAGE, InputError

GOOD = """
[ssh]
known_hosts = "keys/known_hosts"
connect_timeout_s = 4
keepalive_s = 7

[defaults]
user = "chaos"
key_file = "keys/id_ed25519"
data_dir = "/var/lib/raft-chaos"
sudo = true

[[nodes]]
host = "10.0.0.11"

[[nodes]]
host = "db2.staging"
address = "10.0.0.12"
port = 2222
user = "root"
sudo = false

[[nodes]]
host = "10.0.0.11"
data_dir = "/srv/second"
client_port = 8001
raft_port = 9001
"""


def write(tmp_path: Path, text: str, *, key: bool = True) -> Path:
    if key:
        (tmp_path / "keys").mkdir(exist_ok=True)
        (tmp_path / "keys" / "id_ed25519").write_text("not really a key\n")
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


def test_a_valid_inventory_gives_nodes_in_order_with_defaults_applied(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    assert isinstance(inv, Inventory)
    assert [n.name for n in inv.nodes] == ["n1", "n2", "n3"]
    n1, n2, n3 = inv.nodes
    assert (n1.host, n1.port, n1.user, n1.sudo) == ("10.0.0.11", 22, "chaos", True)
    assert n1.data_dir == PurePosixPath("/var/lib/raft-chaos")
    assert n1.key_file == tmp_path / "keys" / "id_ed25519"  # relative to the inventory
    assert (n2.host, n2.address, n2.port, n2.user, n2.sudo) == (
        "db2.staging", "10.0.0.12", 2222, "root", False)
    assert (n3.data_dir, n3.client_port, n3.raft_port) == (PurePosixPath("/srv/second"),
                                                           8001, 9001)
    assert inv.known_hosts == tmp_path / "keys" / "known_hosts"
    assert (inv.connect_timeout_s, inv.keepalive_s) == (4.0, 7.0)
    assert inv.first(2) == inv.nodes[:2]
    assert n2.ssh_label == "n2 (root@db2.staging:2222)"


def test_the_minimal_inventory_uses_documented_defaults(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, '[[nodes]]\nhost = "h"\ndata_dir = "/d"\n',
                               key=False))
    (node,) = inv.nodes
    assert (node.port, node.user, node.key_file, node.sudo) == (22, "root", None, False)
    assert (node.client_port, node.raft_port, node.address) == (8000, 9000, None)
    assert inv.known_hosts == Path("~/.ssh/known_hosts").expanduser()
    assert inv.connect_timeout_s == DEFAULT_CONNECT_TIMEOUT_S


NODE = '[[nodes]]\nhost = "10.0.0.11"\ndata_dir = "/d"\n'

BAD = [
    ("", "no nodes"),
    ("[[nodes]]\ndata_dir = '/d'\n", "nodes[1] (n1): missing 'host'"),
    (NODE + "[[nodes]]\nhots = 'x'\n", "unknown key 'hots' in nodes[2]"),
    ("[ssh]\ntimeout = 3\n" + NODE, "unknown key 'timeout' in [ssh]"),
    ("extra = 1\n" + NODE, "unknown key 'extra' in the top level"),
    ("[defaults]\nhost = 'x'\n" + NODE, "host and address are per node"),
    (NODE.replace('"/d"', '"relative/dir"'), "data_dir 'relative/dir' must be an absolute"),
    (NODE.replace('"/d"', '"/"'), "must be an absolute directory other than /"),
    (NODE.replace('"/d"', '"/srv/../etc"'), "must be an absolute directory"),
    (NODE + "port = 0\n", "port must be a port number (1-65535), not 0"),
    (NODE + "port = '22'\n", "port must be a port number"),
    (NODE + "sudo = 'yes'\n", "sudo must be true or false"),
    (NODE + "address = 'db.example'\n", "address 'db.example' is not an IP address"),
    (NODE + "user = '-oProxyCommand=x'\n", "is not a user name"),
    (NODE.replace('"10.0.0.11"', '"-oProxyCommand=x"'), "is not a host name or address"),
    (NODE + "client_port = 9000\n", "client_port and raft_port must differ"),
    (NODE + NODE, "n2: data_dir /d is already used by n1"),
    (NODE + NODE.replace('"/d"', '"/e"'), "n2: client_port 8000 on 10.0.0.11 is already used"),
    ("[ssh]\nconnect_timeout_s = -1\n" + NODE, "connect_timeout_s must be a positive number"),
    ("nodes = 3\n", "no nodes"),
    ("nodes = [1]\n", "nodes[1] must be a table"),
    ("[[nodes]\n", "not valid TOML"),
    (NODE + "key_file = 'missing_key'\n", "key_file"),
    (NODE + "interface = 'eth 0'\n", "interface 'eth 0' is not a network interface name"),
    (NODE + "interface = 'veth/1'\n", "interface 'veth/1' is not a network interface"),
    (NODE + "interface = '-dev'\n", "interface '-dev' is not a network interface"),
    (NODE + "interface = 'abcdefghijklmnop'\n", "is not a network interface name"),
    (NODE + "interface = '..'\n", "interface '..' is not a network interface"),
    (NODE + "interface = 'eth0:1'\n", "interface 'eth0:1' is not a network interface"),
    (NODE + "interface = 3\n", "interface must be a non-empty string"),
]


@pytest.mark.parametrize(("text", "problem"), BAD, ids=[p for _, p in BAD])
def test_a_bad_inventory_is_one_line_naming_the_file_and_the_problem(
        tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text, key=False)
    with pytest.raises(InputError) as err:
        load_inventory(path)
    message = str(err.value)
    assert message.startswith(f"inventory {path}: "), message
    assert problem in message
    assert "\n" not in message
    assert err.value.exit_code == EXIT_USAGE


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, NODE + "key_file = 'nope/id'\n", key=False)
    with pytest.raises(InputError, match=r"n1: key_file .*nope/id does not exist"):
        load_inventory(path)


def test_a_missing_inventory_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^inventory .*absent\.toml: no such file$"):
        load_inventory(tmp_path / "absent.toml")


def test_asking_for_more_nodes_than_listed_is_an_input_error(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, NODE, key=False))
    with pytest.raises(InputError, match="the test needs 3 nodes but the inventory lists 1"):
        inv.first(3)


def test_the_interface_is_per_node_with_a_default(tmp_path: Path) -> None:
    text = ("[defaults]\ndata_dir = '/d'\ninterface = 'ens3'\n\n[[nodes]]\nhost = 'h1'\n\n"
            "[[nodes]]\nhost = 'h2'\ninterface = 'bond0.100'\n")
    n1, n2 = load_inventory(write(tmp_path, text, key=False)).nodes
    assert (n1.interface, n2.interface) == ("ens3", "bond0.100")
    (node,) = load_inventory(write(tmp_path, NODE, key=False)).nodes
    assert node.interface is None  # the backend finds the one that holds the address
