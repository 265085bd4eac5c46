"""SSH backend commands without sshd: quoting, the fixed remote scripts, checksums, keys.

The remote scripts are run here by a real local shell exactly as sshd would run them
(``bash -c <command line>``), so the daemon start, the pid-file checks and the signals
are tested for real; hostile paths prove that no input is ever interpreted by a shell.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path, PurePosixPath

import paramiko
import pytest

from cluster import clock as clocks
from cluster.base import ClusterSpec, Node
from cluster.netfaults import CommandResult, NodeNet, PacketFault, delayer_argv
from cluster.ssh import (
    NOT_RUNNING,
    START_SCRIPT,
    RemoteLayout,
    SshCluster,
    delayer_program,
    interface_argv,
    missing_tools_argv,
    parse_interface,
    parse_sha256sum,
    process_argv,
    sha256_of,
    start_argv,
)
from cluster.sshpool import Endpoint, command_line, fingerprint
from harness.errors import EnvironmentProblem

HOSTILE = "a b;$(touch PWNED)`touch PWNED2`'\"|&>x"


def as_sshd_runs_it(argv: list[str], *, sudo: bool = False,
                    cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """What sshd does with an exec request: the user's shell runs the command line."""
    line = command_line(argv, sudo=sudo)
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=20,
                          cwd=cwd, check=False)


def test_command_line_quotes_every_argument_and_never_interpolates(tmp_path: Path) -> None:
    argv = ["printf", "%s\n", HOSTILE, "$HOME", "*", ""]
    assert shlex.split(command_line(argv)) == argv
    done = as_sshd_runs_it(argv, cwd=tmp_path)
    assert done.stdout.split("\n")[:5] == [HOSTILE, "$HOME", "*", "", ""]
    assert list(tmp_path.iterdir()) == []  # nothing was executed or redirected


def test_sudo_is_a_prefix_of_the_argv_not_a_string() -> None:
    assert shlex.split(command_line(["kill", "-s", "KILL", "7"], sudo=True)) == [
        "sudo", "-n", "--", "kill", "-s", "KILL", "7"]
    with pytest.raises(ValueError):
        command_line([])


def spec(tmp_path: Path) -> ClusterSpec:
    return ClusterSpec(name="t", nodes=2, run_dir=tmp_path, read_mode="lease",
                       unsafe=("stale-reads",))


def test_start_argv_keeps_the_script_fixed_and_passes_inputs_positionally(
        tmp_path: Path) -> None:
    layout = RemoteLayout(PurePosixPath("/srv/chaos $(x)"))
    nodes = [Node("n1", 1, "10.0.0.11"), Node("n2", 2, "10.0.0.12", 8001, 9001)]
    argv = start_argv(layout, nodes[1], nodes, spec(tmp_path))
    assert argv[:4] == ["sh", "-c", START_SCRIPT, "raftkv-start"]
    assert argv[4:6] == [str(layout.pid_file), str(layout.log)]
    assert argv[6] == "env"
    env = dict(a.split("=", 1) for a in argv[7:11])
    assert env == {"RAFTKV_LOG": "info",
                   **clocks.faketime_env(Path(layout.libfaketime), Path(layout.clock))}
    program = argv[11:]
    assert program[0] == str(layout.raftkv)
    flags = dict(zip(program[1::2], program[2::2], strict=True))
    assert flags == {
        "--id": "2", "--listen": "0.0.0.0:8001", "--raft-listen": "0.0.0.0:9001",
        "--peers": "1=10.0.0.11:9000,2=10.0.0.12:9001", "--data": str(layout.db),
        "--read-mode": "lease", "--unsafe": "stale-reads",
        "--client-peers": "1=10.0.0.11:8000,2=10.0.0.12:8001"}
    assert shlex.split(command_line(argv)) == argv


def test_the_layout_keeps_everything_under_the_data_dir() -> None:
    layout = RemoteLayout(PurePosixPath("/var/lib/rc"))
    paths = [layout.raftkv, layout.libfaketime, layout.nfqdelay, layout.db, layout.log,
             layout.pid_file, layout.clock]
    assert all(p.is_relative_to(layout.data_dir) for p in paths)
    assert layout.node_dir != layout.bin_dir  # wiping a node keeps the uploads


@pytest.fixture
def sleeper(tmp_path: Path) -> Path:
    """A program of our own (a copy of sleep) in a directory with a hostile name."""
    bin_dir = tmp_path / HOSTILE / "bin"
    bin_dir.mkdir(parents=True)
    program = bin_dir / "raftkv"
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy(sleep, program)
    (tmp_path / HOSTILE / "node").mkdir()
    return program


def test_the_start_and_process_scripts_daemonise_find_and_signal_the_program(
        tmp_path: Path, sleeper: Path) -> None:
    layout = RemoteLayout(PurePosixPath(sleeper.parent.parent))
    start = ["sh", "-c", START_SCRIPT, "raftkv-start", str(layout.pid_file), str(layout.log),
             "env", "GREETING=hi there", str(sleeper), "30"]
    began = time.monotonic()
    done = as_sshd_runs_it(start)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began < 5  # the daemon does not hold the session open
    pid = int(Path(layout.pid_file).read_text())
    try:
        deadline = time.monotonic() + 5  # setsid and env exec the program in that pid
        while Path(f"/proc/{pid}/exe").resolve() != sleeper:
            assert time.monotonic() < deadline, "the pid file does not name the program"
            time.sleep(0.01)
        assert b"GREETING=hi there" in Path(f"/proc/{pid}/environ").read_bytes()
        assert Path(f"/proc/{pid}/stat").read_text().split()[5] == str(pid)  # own session

        def process(signal: str) -> subprocess.CompletedProcess[str]:
            return as_sshd_runs_it(process_argv(layout, signal))

        assert process("0").stdout.split() == [str(pid), "S"]
        assert process("STOP").returncode == 0
        time.sleep(0.1)
        assert process("0").stdout.split() == [str(pid), "T"]
        assert process("CONT").returncode == 0
        time.sleep(0.1)
        assert process("0").stdout.split()[1] in ("S", "R")
        assert process("KILL").returncode == 0
        deadline = time.monotonic() + 5
        while process("0").returncode != NOT_RUNNING:
            assert time.monotonic() < deadline, "killed program still reported running"
            time.sleep(0.05)
    finally:
        subprocess.run(["kill", "-9", str(pid)], capture_output=True, check=False)
    assert not list(tmp_path.rglob("PWNED*"))


def test_the_process_script_ignores_a_pid_that_is_not_our_binary(tmp_path: Path) -> None:
    layout = RemoteLayout(PurePosixPath(tmp_path))
    Path(layout.node_dir).mkdir()
    Path(layout.pid_file).write_text(f"{os.getpid()}\n")  # alive, but not our binary
    assert as_sshd_runs_it(process_argv(layout, "KILL")).returncode == NOT_RUNNING
    Path(layout.pid_file).write_text("1; touch PWNED\n")
    assert as_sshd_runs_it(process_argv(layout, "0"), cwd=tmp_path).returncode == NOT_RUNNING
    Path(layout.pid_file).unlink()
    assert as_sshd_runs_it(process_argv(layout, "0")).returncode == NOT_RUNNING
    assert not list(tmp_path.rglob("PWNED*"))


def test_missing_tools_are_listed_by_name() -> None:
    done = as_sshd_runs_it(missing_tools_argv(["sh", "no-such-tool-xyz", "$(id)"]))
    assert done.stdout.split() == ["no-such-tool-xyz", "$(id)"]


def test_sha256_of_a_file_matches_sha256sum(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"raft" * 100_000)
    out = subprocess.run(["sha256sum", "--", str(path)], capture_output=True, text=True,
                         check=True).stdout
    assert parse_sha256sum(out) == sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert parse_sha256sum("sha256sum: x: No such file or directory\n") is None
    assert parse_sha256sum("") is None


def test_fingerprint_is_what_ssh_keygen_shows(tmp_path: Path) -> None:
    key_path = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_path)],
                   check=True)
    shown = subprocess.run(["ssh-keygen", "-lf", str(key_path) + ".pub"], capture_output=True,
                           text=True, check=True).stdout.split()[1]
    key = paramiko.Ed25519Key.from_private_key_file(str(key_path))
    assert fingerprint(key) == f"ssh-ed25519 {shown}"


def test_the_delayer_runs_as_the_uploaded_script_on_the_remote_machine() -> None:
    layout = RemoteLayout(PurePosixPath("/srv/rc"))
    argv = delayer_argv(PacketFault(delay_ms=30, jitter_ms=5), delayer_program(layout))
    assert argv[:2] == ["python3", "/srv/rc/bin/nfqdelay.py"]
    assert argv[2:] == delayer_argv(PacketFault(delay_ms=30, jitter_ms=5))[3:]


def test_the_interface_holding_an_address_is_read_from_ip_addr() -> None:
    assert interface_argv("10.0.0.12") == ["ip", "-o", "addr", "show", "to", "10.0.0.12"]
    out = subprocess.run(interface_argv("127.0.0.1"), capture_output=True, text=True,
                         check=True).stdout
    assert parse_interface(out) == "lo"
    assert parse_interface("3: ens4    inet 10.0.0.12/24 brd 10.0.0.255 scope global ens4\\"
                           "       valid_lft forever preferred_lft forever\n") == "ens4"
    assert parse_interface("7: eth0@if8    inet 10.1.0.2/24 scope global eth0\n") == "eth0"
    assert parse_interface("") is None


class FakeSshPool:
    """Answers ``ip -o addr show to IP`` as a machine whose ens4 holds 10.0.0.12."""

    def __init__(self) -> None:
        self.runs: list[list[str]] = []

    def run(self, ep: Endpoint, argv: list[str], **kw: object) -> CommandResult:
        self.runs.append(list(argv))
        if argv[:5] == ["ip", "-o", "addr", "show", "to"] and argv[5] == "10.0.0.12":
            return CommandResult(0, "3: ens4    inet 10.0.0.12/24 scope global ens4\n", "")
        return CommandResult(0, "", "")


def test_each_ssh_node_is_shaped_on_its_inventory_interface_or_the_one_with_its_address(
        tmp_path: Path) -> None:
    inv = tmp_path / "inventory.toml"
    inv.write_text('[defaults]\ndata_dir = "/srv/rc"\n\n'
                   '[[nodes]]\nhost = "10.0.0.11"\ninterface = "bond0"\n\n'
                   '[[nodes]]\nhost = "10.0.0.12"\n\n'
                   '[[nodes]]\nhost = "10.0.0.13"\n')
    pool = FakeSshPool()
    cluster = SshCluster(ClusterSpec(name="t", nodes=3, run_dir=tmp_path, inventory=inv),
                         pool=pool)  # type: ignore[arg-type]
    assert cluster.net_for("n1") == NodeNet("bond0", ("python3", "/srv/rc/bin/nfqdelay.py"))
    assert pool.runs == []  # named in the inventory: nothing to ask
    assert cluster.net_for("n2").interface == "ens4"
    assert cluster.interface("n2") == "ens4" and len(pool.runs) == 1  # asked once
    assert cluster.interface("n3") is None  # no interface holds 10.0.0.13
    with pytest.raises(EnvironmentProblem, match=re.escape('interface = "..." for n3')):
        cluster._require_interface("n3")


def test_endpoint_names_its_node_and_known_hosts_entry() -> None:
    assert str(Endpoint("n3", "10.0.0.13", 2222, "chaos")) == "n3 (chaos@10.0.0.13:2222)"
    assert Endpoint("n3", "h", 2222).known_hosts_name == "[h]:2222"
    assert Endpoint("n3", "h").known_hosts_name == "h"
    assert Endpoint("n1", "h").machine == Endpoint("n2", "h").machine  # one connection
