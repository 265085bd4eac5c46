"""Test machines for the SSH backend: network namespaces on this host, each with a real sshd.

``SshdHosts(count, workdir)`` is a context manager that builds, on a free private
``10.231.X.0/24``::

    root ns: rcssh<tag> 10.231.X.1 ──┐
                                     │  veth pairs on a bridge inside the namespace
    rcssh-<tag>-sw (bridge br0) ─────┼── rcssh-<tag>-h1: eth0 10.231.X.11, sshd -D
                                     ├── rcssh-<tag>-h2: eth0 10.231.X.12, sshd -D
                                     └── ...

The bridge lives in its own namespace, so the root namespace's FORWARD chain (Docker
sets its policy to DROP, and br_netfilter applies it to bridged frames) never sees the
hosts' traffic, and nothing is added to the root namespace's firewall. Every host runs
Debian's ``/usr/sbin/sshd -D -e`` with its own ed25519 host key, key-only root login
(one generated client key) and SFTP. The hosts share this machine's filesystem, so the
backend under test must put each node's files in a per-node directory.

Teardown stops each sshd, kills every process left in a host's namespace (the daemons
the tests started over SSH), and deletes the namespaces; the bridge and the veth pairs
go with them. ``cleanup_leftovers()`` (also ``python tests/sshd_hosts.py cleanup``)
removes whatever a crashed test session left, found by the ``rcssh`` prefix.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from types import TracebackType

from cluster import subnets

PREFIX = "rcssh"
SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
# Apart from Docker's 172.28.0.0/16 and the local backend's 10.213.0.0/16 (cluster.subnets).
TEST_POOL = IPv4Network("10.231.0.0/16")


@dataclass(frozen=True, slots=True)
class SshdHost:
    """One test machine: a namespace with an address and an sshd."""

    name: str  # "h1"
    netns: str
    ip: str
    host_key_pub: str  # "ssh-ed25519 AAAA... comment"
    dir: Path  # its sshd config, host key, pid file and log

    def known_hosts_line(self) -> str:
        key_type, key_b64 = self.host_key_pub.split()[:2]
        return f"{self.ip} {key_type} {key_b64}\n"


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=30)


def free_subnet() -> IPv4Network:
    """The first /24 of :data:`TEST_POOL` that no route on this machine overlaps."""
    return subnets.pick_subnet(subnets.host_routes(), TEST_POOL)


class SshdHosts:
    """N sshd test machines in network namespaces; builds on enter, removes on exit."""

    def __init__(self, count: int, workdir: Path, *, path_first: Path | None = None) -> None:
        """``path_first``: a folder put first on every session's PATH (a stand-in tool)."""
        if not 1 <= count <= subnets.MAX_NODES:
            raise ValueError(f"count must be 1..{subnets.MAX_NODES}")
        self.count = count
        self.workdir = workdir
        self.path_first = path_first
        self.tag = secrets.token_hex(3)[:5]
        self.switch_ns = f"{PREFIX}-{self.tag}-sw"
        self.root_veth = f"{PREFIX}{self.tag}"
        self.subnet = ""  # "10.231.X"
        self.gateway_ip = ""
        self.client_key = workdir / "client_ed25519"
        self.authorized_keys = workdir / "authorized_keys"
        self.hosts: tuple[SshdHost, ...] = ()
        self._sshd: list[subprocess.Popen[bytes]] = []
        self._namespaces: list[str] = []

    def __enter__(self) -> SshdHosts:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def unused_ip(self) -> str:
        """An address in the test subnet where nothing answers (for 'unreachable' tests)."""
        return f"{self.subnet}.250"

    def known_hosts(self, hosts: Sequence[SshdHost] | None = None) -> str:
        return "".join(h.known_hosts_line() for h in (self.hosts if hosts is None else hosts))

    # -- build -------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        _keygen(self.client_key)
        self.authorized_keys.write_text(self.client_key.with_suffix(".pub").read_text())
        subnet = free_subnet()
        self.subnet = subnets.net_prefix(subnet)
        self.gateway_ip = subnets.gateway_ip(subnet)

        self._add_netns(self.switch_ns)
        sw = ["ip", "-n", self.switch_ns]
        _run([*sw, "link", "add", "br0", "type", "bridge"])
        _run([*sw, "link", "set", "br0", "up"])
        _run([*sw, "link", "add", "up0", "type", "veth", "peer", "name", self.root_veth,
              "netns", "1"])
        _run([*sw, "link", "set", "up0", "master", "br0", "up"])
        _run(["ip", "addr", "add", f"{self.gateway_ip}/24", "dev", self.root_veth])
        _run(["ip", "link", "set", self.root_veth, "up"])

        hosts = []
        for i in range(1, self.count + 1):
            hosts.append(self._add_host(f"h{i}", subnets.node_ip(subnet, i)))
        self.hosts = tuple(hosts)
        for host in self.hosts:
            self._start_sshd(host)
        for host in self.hosts:
            _wait_for_port(host.ip, 22, timeout_s=10)

    def _add_netns(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self._namespaces.append(name)
        _run(["ip", "-n", name, "link", "set", "lo", "up"])

    def _add_host(self, name: str, ip: str) -> SshdHost:
        netns = f"{PREFIX}-{self.tag}-{name}"
        self._add_netns(netns)
        _run(["ip", "-n", self.switch_ns, "link", "add", name, "type", "veth",
              "peer", "name", "eth0", "netns", netns])
        _run(["ip", "-n", self.switch_ns, "link", "set", name, "master", "br0", "up"])
        _run(["ip", "-n", netns, "addr", "add", f"{ip}/24", "dev", "eth0"])
        _run(["ip", "-n", netns, "link", "set", "eth0", "up"])
        _run(["ip", "-n", netns, "route", "add", "default", "via", self.gateway_ip])
        host_dir = self.workdir / name
        host_dir.mkdir(exist_ok=True)
        host_key = host_dir / "ssh_host_ed25519_key"
        _keygen(host_key)
        (host_dir / "sshd_config").write_text(_sshd_config(
            ip=ip, host_key=host_key, pid_file=host_dir / "sshd.pid",
            authorized_keys=self.authorized_keys, path_first=self.path_first))
        return SshdHost(name, netns, ip, host_key.with_suffix(".pub").read_text().strip(),
                        host_dir)

    def _start_sshd(self, host: SshdHost) -> None:
        with open(host.dir / "sshd.log", "ab") as log:
            self._sshd.append(subprocess.Popen(
                ["ip", "netns", "exec", host.netns, SSHD, "-D", "-e",
                 "-f", str(host.dir / "sshd_config")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))

    # -- teardown ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every sshd and every process in the hosts' namespaces; delete them all."""
        for proc in self._sshd:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._sshd:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._sshd.clear()
        for netns in reversed(self._namespaces):
            _delete_netns(netns)
        self._namespaces.clear()
        if _run(["ip", "link", "show", self.root_veth], check=False).returncode == 0:
            _run(["ip", "link", "del", self.root_veth], check=False)


def _keygen(path: Path) -> None:
    for p in (path, path.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{PREFIX}-test",
          "-f", str(path)])


def _sshd_config(*, ip: str, host_key: Path, pid_file: Path, authorized_keys: Path,
                 path_first: Path | None) -> str:
    path = [f"SetEnv PATH={path_first}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ] if path_first is not None else []
    return "\n".join([*path,
        "Port 22",
        f"ListenAddress {ip}",
        f"HostKey {host_key}",
        f"PidFile {pid_file}",
        f"AuthorizedKeysFile {authorized_keys}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "MaxSessions 64",
        "MaxStartups 64",
        "LogLevel INFO",
        f"Subsystem sftp {SFTP_SERVER}",
        "",
    ])


def _wait_for_port(ip: str, port: int, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((ip, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd on {ip}:{port} did not come up") from None
            time.sleep(0.1)


def _delete_netns(netns: str) -> None:
    """Kill every process inside ``netns`` (twice: a dying parent may fork), then delete it."""
    for _ in range(2):
        pids = _run(["ip", "netns", "pids", netns], check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        if pids:
            time.sleep(0.2)
    _run(["ip", "netns", "del", netns], check=False)


def leftovers() -> tuple[list[str], list[str]]:
    """Namespaces and root-namespace links with the test prefix (there should be none)."""
    netns = [line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines()
             if line.startswith(PREFIX + "-")]
    links = [line.split(":")[1].strip().split("@")[0]
             for line in _run(["ip", "-o", "link"]).stdout.splitlines()
             if line.split(":")[1].strip().startswith(PREFIX)]
    return netns, links


def cleanup_leftovers() -> tuple[list[str], list[str]]:
    """Remove what a crashed session left; returns what was removed."""
    netns, links = leftovers()
    for name in sorted(netns, key=lambda n: n.endswith("-sw")):  # hosts before switches
        _delete_netns(name)
    for link in links:
        _run(["ip", "link", "del", link], check=False)
    return netns, links


if __name__ == "__main__":
    if sys.argv[1:] != ["cleanup"]:
        sys.exit("usage: python tests/sshd_hosts.py cleanup")
    removed_netns, removed_links = cleanup_leftovers()
    print(f"removed namespaces: {removed_netns or 'none'}; links: {removed_links or 'none'}")
