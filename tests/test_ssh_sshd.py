"""The SSH backend against real sshd: namespaces on this machine, each one a 'remote host'.

Connections (host keys refused, recorded on opt-in, changed keys always refused,
unreachable nodes named within the timeout, reconnects) and a whole cluster's life
(upload and skip, daemons, signals, partitions, packet faults, clocks, logs, down),
each fact observed from outside the backend: in the namespace's own iptables, in
``/proc``, on the files the 'remote' side holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_hosts import SshdHost, SshdHosts, leftovers

from cluster.base import ClockSetting, ClusterSpec, Node, PacketFault
from cluster.health import probe_status
from cluster.local import DEFAULT_BINARY
from cluster.ssh import SshCluster
from cluster.sshpool import Endpoint, HostKeyRefused, SshConnectError, SshPool
from harness.errors import EXIT_USAGE

pytestmark = [pytest.mark.netns, pytest.mark.slow]

HOSTILE = "a b;$(touch PWNED)'\""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdHosts]:
    with SshdHosts(3, tmp_path_factory.mktemp("sshd")) as made:
        yield made
    netns, links = leftovers()
    assert not [n for n in netns if made.tag in n], netns
    assert not [link for link in links if made.tag in link], links


def endpoints(hosts: SshdHosts) -> list[Endpoint]:
    return [Endpoint(f"n{i}", h.ip, key_file=hosts.client_key)
            for i, h in enumerate(hosts.hosts, start=1)]


def known_hosts(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(text)
    return path


def in_netns(host: SshdHost, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", host.netns, *argv], capture_output=True,
                          text=True, check=True, timeout=20).stdout


# -- connections ---------------------------------------------------------------------------

def test_commands_run_on_the_remote_host_as_argument_lists(hosts: SshdHosts,
                                                           tmp_path: Path) -> None:
    pool = SshPool(known_hosts=known_hosts(tmp_path, hosts.known_hosts()))
    try:
        ep = endpoints(hosts)[1]
        done = pool.run(ep, ["sh", "-c", 'cd "$1" && printf "%s\\n" "$2" && ip -o -4 addr',
                             "script", str(tmp_path), HOSTILE])
        assert done.stdout.splitlines()[0] == HOSTILE
        assert hosts.hosts[1].ip + "/24" in done.stdout  # it ran in that host's namespace
        assert not list(tmp_path.glob("PWNED*"))
        assert pool.run(ep, ["sh", "-c", "exit 7"], check=False).returncode == 7
        assert pool.run(ep, ["cat"], stdin=b"fed through stdin").stdout == "fed through stdin"
    finally:
        pool.close()


def test_an_unknown_host_key_is_refused_with_what_to_do(hosts: SshdHosts,
                                                        tmp_path: Path) -> None:
    path = known_hosts(tmp_path, hosts.known_hosts(hosts.hosts[:2]))
    before = path.read_text()
    pool = SshPool(known_hosts=path, connect_timeout_s=5)
    with pytest.raises(HostKeyRefused) as err:
        pool.connect_all(endpoints(hosts))
    message = str(err.value)
    h3 = hosts.hosts[2]
    assert message.startswith(f"n3 (root@{h3.ip}:22): unknown host key ssh-ed25519 SHA256:")
    assert "--accept-new-host-keys" in message and str(path) in message
    assert "n1" not in message and "n2" not in message
    assert err.value.exit_code == EXIT_USAGE
    assert path.read_text() == before  # nothing recorded without the opt-in
    pool.close()


def test_accept_new_host_keys_records_them_and_says_so(hosts: SshdHosts,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "known_hosts"  # neither the file nor its folder exists
    reports: list[str] = []
    pool = SshPool(known_hosts=path, accept_new_host_keys=True, report=reports.append)
    pool.connect_all(endpoints(hosts))
    pool.close()
    assert sorted(path.read_text().splitlines()) == sorted(
        h.known_hosts_line().strip() for h in hosts.hosts)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(reports) == 3 and all("recorded new host key ssh-ed25519 SHA256:" in r
                                     for r in reports)
    strict = SshPool(known_hosts=path)  # what was recorded now verifies without the opt-in
    strict.connect_all(endpoints(hosts))
    strict.close()


@pytest.mark.parametrize("accept_new", [False, True])
def test_a_changed_host_key_is_always_refused(hosts: SshdHosts, tmp_path: Path,
                                              accept_new: bool) -> None:
    h1, h2 = hosts.hosts[0], hosts.hosts[1]
    forged = h2.known_hosts_line().replace(h2.ip, h1.ip, 1)  # h1's name, h2's key
    path = known_hosts(tmp_path, forged)
    pool = SshPool(known_hosts=path, accept_new_host_keys=accept_new)
    with pytest.raises(HostKeyRefused, match=r"^n1 .*host key CHANGED.*ssh-keygen -R"):
        pool.connect_all(endpoints(hosts)[:1])
    assert path.read_text() == forged


def test_unreachable_nodes_are_named_within_the_connect_timeout(hosts: SshdHosts,
                                                                tmp_path: Path) -> None:
    pool = SshPool(known_hosts=known_hosts(tmp_path, hosts.known_hosts()),
                   connect_timeout_s=2)
    good = endpoints(hosts)[0]
    nobody = Endpoint("n4", hosts.unused_ip(), key_file=hosts.client_key)
    closed = Endpoint("n5", hosts.hosts[0].ip, 2222, key_file=hosts.client_key)
    began = time.monotonic()
    with pytest.raises(SshConnectError) as err:
        pool.connect_all([good, nobody, closed])
    elapsed = time.monotonic() - began
    message = str(err.value)
    assert f"n4 (root@{hosts.unused_ip()}:22): unreachable" in message
    assert f"n5 (root@{hosts.hosts[0].ip}:2222): unreachable: connection refused" in message
    assert "n1" not in message and "\n" not in message
    assert elapsed < 2 + 1.5, f"took {elapsed:.1f}s"
    pool.close()


def test_a_wrong_key_is_a_refused_login(hosts: SshdHosts, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    pool = SshPool(known_hosts=known_hosts(tmp_path, hosts.known_hosts()))
    with pytest.raises(SshConnectError, match=r"^n1 .*login refused with .*other_key"):
        pool.connect_all([Endpoint("n1", hosts.hosts[0].ip, key_file=other)])


def test_a_lost_connection_is_replaced(hosts: SshdHosts, tmp_path: Path) -> None:
    pool = SshPool(known_hosts=known_hosts(tmp_path, hosts.known_hosts()), keepalive_s=1)
    ep = endpoints(hosts)[0]
    first = pool.client(ep)
    transport = first.get_transport()
    assert transport is not None and transport.is_active()
    transport.close()  # as if the network dropped it
    assert pool.run(ep, ["echo", "again"]).stdout == "again\n"
    assert pool.client(ep) is not first
    pool.close()


# -- a cluster -----------------------------------------------------------------------------

def write_inventory(tmp_path: Path, hosts: SshdHosts, *, known: str,
                    extra_node: str | None = None, timeout_s: float = 5) -> Path:
    remote = tmp_path / "remote"
    text = (f'[ssh]\nknown_hosts = "{known_hosts(tmp_path, known)}"\n'
            f"connect_timeout_s = {timeout_s}\n\n"
            f'[defaults]\nkey_file = "{hosts.client_key}"\n\n')
    for h in hosts.hosts:
        text += f'[[nodes]]\nhost = "{h.ip}"\ndata_dir = "{remote / h.name}"\n\n'
    if extra_node is not None:
        text += f'[[nodes]]\nhost = "{extra_node}"\ndata_dir = "{remote / "extra"}"\n'
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def raftkv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the raftkv binary that no rebuild changes while the tests run."""
    copy = tmp_path_factory.mktemp("bin") / "raftkv"
    shutil.copy2(Path(os.environ.get("RAFTKV_BIN") or DEFAULT_BINARY), copy)
    return copy


def our_processes(host: SshdHost, remote_dir: Path) -> list[str]:
    """Processes in the host's namespace that run our uploads (raftkv, the delayer)."""
    found = []
    pids = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True, text=True,
                          check=True).stdout.split()
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(remote_dir) in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


def pid_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def proc_state(pid_file: Path) -> str | None:
    try:
        return pid_state(int(pid_file.read_text()))
    except (OSError, ValueError):
        return None


def settled_skew_ms(node: Node, want_ms: float, timeout_s: float = 6) -> float:
    """The node's clock minus ours, once within 5 s of ``want_ms`` (libfaketime caches its
    control file for a second) or when time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        skew = float(probe_status(node)["clock_ms"]) - time.time() * 1000
        if abs(skew - want_ms) < 5_000 or time.monotonic() > deadline:
            return skew
        time.sleep(0.2)


def test_a_cluster_lives_and_dies_on_the_remote_hosts(hosts: SshdHosts,
                                                      tmp_path: Path, raftkv: Path) -> None:
    inventory = write_inventory(tmp_path, hosts, known=hosts.known_hosts())
    spec = ClusterSpec(name="ssh-life", nodes=3, run_dir=tmp_path / "run", inventory=inventory,
                       health_timeout_s=30)
    remote = tmp_path / "remote"
    h1, h2, h3 = hosts.hosts
    cluster = SshCluster(spec, binary=raftkv)
    cluster.up()
    try:
        uploads = [n for n in cluster.notes if "uploaded" in n]
        assert len(uploads) == 9, cluster.notes  # three files on three hosts
        raftkv_copy = remote / "h1" / "bin" / "raftkv"
        assert raftkv_copy.read_bytes() == raftkv.read_bytes()
        mtime = raftkv_copy.stat().st_mtime_ns

        # identical files are not sent again; a changed one is
        assert all("unchanged" in line for line in cluster.install("n1"))
        assert raftkv_copy.stat().st_mtime_ns == mtime
        with (remote / "h1" / "bin" / "libfaketime.so.1").open("ab") as f:
            f.write(b"tampered")
        redone = cluster.install("n1")
        assert [line.split(":")[1].split()[0] for line in redone if "uploaded" in line] == [
            "libfaketime.so.1"]

        # processes: pause, resume, kill, start, seen in /proc
        pid_file = remote / "h2" / "node" / "raftkv.pid"
        cluster.pause("n2")
        assert proc_state(pid_file) == "T" and cluster.node_state("n2") == "paused"
        cluster.resume("n2")
        assert proc_state(pid_file) in ("S", "R") and cluster.node_state("n2") == "running"
        old_pid = int((remote / "h3" / "node" / "raftkv.pid").read_text())
        cluster.kill("n3")
        assert not cluster.is_running("n3")
        assert pid_state(old_pid) in (None, "Z")  # gone (or dead, not yet reaped by init)
        cluster.start("n3")
        assert cluster.is_running("n3")
        assert int((remote / "h3" / "node" / "raftkv.pid").read_text()) != old_pid

        # a partition is iptables rules in the remote host's own firewall
        rules = cluster.partition({"n1": {"n2", "n3"}})
        assert rules == [f"n1 drops packets from n2 ({h2.ip}), n3 ({h3.ip})"]
        chain = in_netns(h1, "iptables", "-S", "RAFTCHAOS-IN")
        assert f"-A RAFTCHAOS-IN -s {h2.ip}/32 -j DROP" in chain
        assert f"-A RAFTCHAOS-IN -s {h3.ip}/32 -j DROP" in chain

        # packet loss and a clock offset; a heal from another process (a fresh object,
        # as after a killed run) finds and undoes everything: the state is on the hosts
        cluster.set_packet_fault("n3", PacketFault(loss_pct=10))
        assert "statistic" in in_netns(h3, "iptables", "-S", "RAFTCHAOS-OUT")
        cluster.set_clock("n2", ClockSetting(offset_ms=60_000))
        cluster.pause("n1")
        assert 55_000 < settled_skew_ms(cluster.nodes()[1], 60_000) < 65_000
        healed = SshCluster(spec, binary=raftkv).heal()
        assert {"n1: RAFTCHAOS-IN removed", "n3: RAFTCHAOS-OUT removed", "n1: resumed",
                "n2: clock reset"} <= set(healed), healed
        for host in hosts.hosts:
            assert "RAFTCHAOS" not in in_netns(host, "iptables", "-S")
        assert proc_state(remote / "h1" / "node" / "raftkv.pid") in ("S", "R")
        assert abs(settled_skew_ms(cluster.nodes()[1], 0)) < 5_000

        # the userspace delayer runs on the remote host while its SSH channel lives
        cluster.set_packet_fault("n2", PacketFault(delay_ms=40))
        assert [p for p in our_processes(h2, remote) if "nfqdelay.py" in p]
        assert "NFQUEUE" in in_netns(h2, "iptables", "-S", "RAFTCHAOS-OUT")
        healed = cluster.heal()
        assert "n2: packet delayer stopped" in healed
        assert not [p for p in our_processes(h2, remote) if "nfqdelay.py" in p]
        assert (tmp_path / "run" / "cluster" / "n2" / "nfqdelay.log").exists()

        store = tmp_path / "store"
        cluster.collect_logs(store)
        assert all((store / n / "raftkv.log").stat().st_size > 0 for n in ("n1", "n2", "n3"))
    finally:
        cluster.down()
    for host in hosts.hosts:
        assert our_processes(host, remote) == []
        assert not (remote / host.name / "node").exists()  # the node's data is gone
        assert (remote / host.name / "bin" / "raftkv").exists()  # the uploads stay

    again = SshCluster(spec, binary=raftkv)  # a second run sends nothing
    again.up()
    try:
        assert not [n for n in again.notes if "uploaded" in n]
    finally:
        again.down()
    for host in hosts.hosts:
        assert our_processes(host, remote) == []


def test_up_refuses_a_node_with_an_unknown_host_key(hosts: SshdHosts, tmp_path: Path,
                                                    raftkv: Path) -> None:
    inventory = write_inventory(tmp_path, hosts, known=hosts.known_hosts(hosts.hosts[:2]))
    spec = ClusterSpec(name="ssh-key", nodes=3, run_dir=tmp_path / "run", inventory=inventory)
    with pytest.raises(HostKeyRefused, match=r"^n3 \(root@.*\): unknown host key"):
        SshCluster(spec, binary=raftkv).up()
    assert not (tmp_path / "remote").exists()  # nothing was installed or started anywhere


def test_up_names_an_unreachable_node_within_the_connect_timeout(
        hosts: SshdHosts, tmp_path: Path, raftkv: Path) -> None:
    inventory = write_inventory(tmp_path, hosts, known=hosts.known_hosts(),
                                extra_node=hosts.unused_ip(), timeout_s=2)
    spec = ClusterSpec(name="ssh-gone", nodes=4, run_dir=tmp_path / "run", inventory=inventory)
    began = time.monotonic()
    with pytest.raises(SshConnectError, match=rf"^n4 \(root@{hosts.unused_ip()}:22\): "
                                              "unreachable"):
        SshCluster(spec, binary=raftkv).up()
    assert time.monotonic() - began < 2 + 1.5
    assert not (tmp_path / "remote").exists()


STAND_IN_SUDO = """#!/bin/sh
# A stand-in for sudo (not installed here): records its argv, insists on -n --, runs the rest.
printf '%s\\n' "$*" >> {log}
[ "$1" = -n ] && [ "$2" = -- ] || {{ echo "sudo: expected -n --" >&2; exit 1; }}
shift 2
exec "$@"
"""


def test_sudo_nodes_run_privileged_commands_and_only_those_through_sudo(
        tmp_path: Path, raftkv: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    sudo_log = tmp_path / "sudo.log"
    (tools / "sudo").write_text(STAND_IN_SUDO.format(log=sudo_log))
    (tools / "sudo").chmod(0o755)
    with SshdHosts(2, tmp_path / "sshd", path_first=tools) as hosts:
        inventory = write_inventory(tmp_path, hosts, known=hosts.known_hosts())
        inventory.write_text(inventory.read_text().replace("[defaults]\n",
                                                           "[defaults]\nsudo = true\n"))
        spec = ClusterSpec(name="ssh-sudo", nodes=2, run_dir=tmp_path / "run",
                           inventory=inventory)
        cluster = SshCluster(spec, binary=raftkv)
        cluster.up()
        try:
            cluster.partition({"n1": {"n2"}})
            cluster.pause("n2")
            cluster.heal()
        finally:
            cluster.down()
        assert our_processes(hosts.hosts[0], tmp_path / "remote") == []
    calls = sudo_log.read_text().splitlines()
    programs = {line.split()[2] for line in calls}
    assert {"true", "sh", "rm", "iptables", "iptables-restore", "tc"} <= programs, programs
    assert all(line.startswith("-n -- ") for line in calls)
    assert not programs & {"mkdir", "sha256sum"}  # file work stays the login user's
