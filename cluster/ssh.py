"""The SSH backend: each node a raftkv daemon on a machine named by an inventory file.

For each node ``nK`` (the K-th ``[[nodes]]`` entry of the inventory, see
:mod:`cluster.inventory`), everything lives under its ``data_dir`` on its machine::

    <data_dir>/bin/raftkv, libfaketime.so.1, nfqdelay.py   uploaded over SFTP, kept
    <data_dir>/node/db/                                     the node's RocksDB
    <data_dir>/node/raftkv.log, raftkv.pid, faketime        log, pid file, clock control

``up`` connects to every machine at once (:class:`cluster.sshpool.SshPool`: host keys
verified, one line naming every node that cannot be reached), checks the remote tools,
kills a daemon a crashed run left, uploads the three files (SHA-256 verified, skipped
when the remote copy is identical), wipes ``node/`` and starts each daemon with a fixed
``sh -c`` script that takes its arguments positionally: ``setsid`` detaches it, its
pid goes to the pid file. Kill, stop, pause and resume are ``kill -s SIG`` on that pid,
once the pid is confirmed to run our binary. Partitions and packet faults are
:mod:`cluster.netfaults`, run on the node's machine through :class:`RemoteExec`; clocks
are libfaketime's control file (:mod:`cluster.clock`) written over SFTP in place.
Logs are downloaded into ``<run_dir>/cluster/<node>/`` (as the local backend keeps
them) and from there into the store.

Every remote command is an argument list joined by ``shlex.join``; nothing from the
inventory or the test is interpolated into a shell string.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

import paramiko

from cluster import clock as clocks
from cluster import nfqdelay
from cluster.base import ClockSetting, ClusterSpec, Grudge, Node, PacketFault
from cluster.faulting import SharedFaults
from cluster.health import wait_healthy
from cluster.inventory import InventoryNode, load_inventory
from cluster.local import DEFAULT_BINARY, peers_arg, raftkv_argv
from cluster.netfaults import CommandResult, NetworkFaults, NodeNet, Spawned
from cluster.sshpool import Endpoint, RemoteCommandFailed, SshPool, command_line
from harness.errors import EnvironmentProblem, InputError

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP_TIMEOUT_S = 10.0
KILL_TIMEOUT_S = 10.0
POLL_S = 0.1
REMOTE_TOOLS = ("sh", "setsid", "env", "kill", "cat", "sed", "cut", "readlink", "sha256sum",
                "tail", "mkdir", "rm", "iptables", "iptables-restore", "tc", "ip")
NOT_RUNNING = 3  # exit status of PROCESS_SCRIPT when the pid file names no live raftkv

# Fixed scripts; their inputs arrive as positional parameters, never inside the text.
# START: $1 pid file, $2 log file, the rest is the program's argv.
START_SCRIPT = (
    'pidfile=$1 log=$2; shift 2; '
    'setsid "$@" </dev/null >>"$log" 2>&1 & '
    'echo $! >"$pidfile"')
# PROCESS: $1 pid file, $2 binary, $3 signal name or 0 (none); prints "pid state"
# (the state before the signal) or exits 3 when the pid file names no live raftkv.
PROCESS_SCRIPT = (
    'pid=$(cat -- "$1" 2>/dev/null) || exit 3; '
    'case $pid in ""|*[!0-9]*) exit 3;; esac; '
    'exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || exit 3; '
    'case $exe in "$2"|"$2 (deleted)") ;; *) exit 3;; esac; '
    'state=$(sed "s/.*) //" "/proc/$pid/stat" 2>/dev/null | cut -d" " -f1); '
    'case $state in ""|Z|X) exit 3;; esac; '
    'if [ "$3" != 0 ]; then kill -s "$3" "$pid" 2>/dev/null || exit 3; fi; '
    'echo "$pid $state"')
# MISSING: prints each of its arguments that is not a command on the PATH.
MISSING_SCRIPT = 'for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done'
# SPAWN: prints its own pid, then becomes the program (for helpers that stream output).
SPAWN_SCRIPT = 'echo "$$"; exec "$@"'


# -- remote layout and commands (pure) ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class RemoteLayout:
    """Where one node's files live on its machine."""

    data_dir: PurePosixPath

    @property
    def bin_dir(self) -> PurePosixPath:
        return self.data_dir / "bin"

    @property
    def raftkv(self) -> PurePosixPath:
        return self.bin_dir / "raftkv"

    @property
    def libfaketime(self) -> PurePosixPath:
        return self.bin_dir / "libfaketime.so.1"

    @property
    def nfqdelay(self) -> PurePosixPath:
        return self.bin_dir / "nfqdelay.py"

    @property
    def node_dir(self) -> PurePosixPath:
        return self.data_dir / "node"

    @property
    def db(self) -> PurePosixPath:
        return self.node_dir / "db"

    @property
    def log(self) -> PurePosixPath:
        return self.node_dir / "raftkv.log"

    @property
    def pid_file(self) -> PurePosixPath:
        return self.node_dir / "raftkv.pid"

    @property
    def clock(self) -> PurePosixPath:
        return self.node_dir / clocks.CONTROL_FILE


def start_argv(layout: RemoteLayout, node: Node, nodes: Sequence[Node],
               spec: ClusterSpec) -> list[str]:
    """The remote argv that starts ``node`` as a daemon, libfaketime preloaded."""
    env = {"RAFTKV_LOG": "info",
           **clocks.faketime_env(Path(layout.libfaketime), Path(layout.clock))}
    program = raftkv_argv(Path(layout.raftkv), node, peers_arg(nodes), Path(layout.db), spec)
    program += ["--client-peers", ",".join(f"{n.id}={n.client_addr}" for n in nodes)]
    return ["sh", "-c", START_SCRIPT, "raftkv-start", str(layout.pid_file), str(layout.log),
            "env", *(f"{k}={v}" for k, v in env.items()), *program]


def process_argv(layout: RemoteLayout, signal: str = "0") -> list[str]:
    """The remote argv that reports (and, unless ``signal`` is 0, signals) the daemon."""
    return ["sh", "-c", PROCESS_SCRIPT, "raftkv-process", str(layout.pid_file),
            str(layout.raftkv), signal]


def missing_tools_argv(tools: Sequence[str] = REMOTE_TOOLS) -> list[str]:
    return ["sh", "-c", MISSING_SCRIPT, "raft-chaos-preflight", *tools]


def parse_sha256sum(output: str) -> str | None:
    """The digest from ``sha256sum FILE`` output, or None."""
    words = output.split()
    if words and len(words[0]) == 64 and all(c in "0123456789abcdef" for c in words[0]):
        return words[0]
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def node_ip(entry: InventoryNode) -> str:
    """The IP peers and the harness use for ``entry``: its address, or its host resolved."""
    if entry.address is not None:
        return entry.address
    try:
        return str(ipaddress.ip_address(entry.host))
    except ValueError:
        pass
    try:
        return socket.gethostbyname(entry.host)
    except OSError as e:
        raise InputError(f"{entry.ssh_label}: cannot resolve {entry.host!r} ({e}); "
                         "give the node an address = \"<ip>\" in the inventory") from None


def endpoint(entry: InventoryNode) -> Endpoint:
    return Endpoint(entry.name, entry.host, entry.port, entry.user, entry.key_file)


# -- running programs on a node's machine ------------------------------------------------

def delayer_program(layout: RemoteLayout) -> tuple[str, ...]:
    """The argv prefix that runs the uploaded delayer on the node's machine."""
    return ("python3", str(layout.nfqdelay))


def interface_argv(ip: str) -> list[str]:
    """Lists the machine's interface addresses equal to ``ip`` (one line each)."""
    return ["ip", "-o", "addr", "show", "to", ip]


def parse_interface(output: str) -> str | None:
    """The interface named by ``ip -o addr show`` output (``2: ens3    inet ...``)."""
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].endswith(":"):
            return words[1].split("@", 1)[0]
    return None


@dataclass(frozen=True, slots=True)
class RemoteExec:
    """A node's machine as :mod:`cluster.netfaults` sees it: commands run over SSH."""

    where: str
    pool: SshPool
    endpoint: Endpoint
    sudo: bool

    def run(self, argv: Sequence[str], stdin: str | None = None) -> CommandResult:
        return self.pool.run(self.endpoint, argv, sudo=self.sudo, check=False,
                             stdin=None if stdin is None else stdin.encode())

    def spawn(self, argv: Sequence[str], log: Path) -> Spawned:
        return RemoteProcess.start(self, argv, log)


class RemoteProcess:
    """A helper running on a node's machine for as long as its SSH channel; its output is
    copied into a local log. Behaves like ``subprocess.Popen`` as far as netfaults needs."""

    def __init__(self, ex: RemoteExec, channel: paramiko.Channel, pid: int,
                 pump: threading.Thread) -> None:
        self._ex, self._channel, self.pid, self._pump = ex, channel, pid, pump

    @classmethod
    def start(cls, ex: RemoteExec, argv: Sequence[str], log: Path) -> RemoteProcess:
        log.parent.mkdir(parents=True, exist_ok=True)
        channel = ex.pool.open_session(ex.endpoint)
        channel.set_combine_stderr(True)
        channel.exec_command(command_line(["sh", "-c", SPAWN_SCRIPT, "raft-chaos-spawn",
                                           *argv], sudo=ex.sudo))
        channel.settimeout(10)
        first = b""
        try:
            while not first.endswith(b"\n"):
                chunk = channel.recv(1)
                if not chunk:
                    break
                first += chunk
        except TimeoutError:
            pass
        if not first.strip().isdigit():
            channel.close()
            raise EnvironmentProblem(f"{ex.where}: could not start {argv[0]} remotely")
        channel.settimeout(None)
        pump = threading.Thread(target=_copy_output, args=(channel, log), daemon=True,
                                name=f"remote-output-{ex.endpoint.label}")
        pump.start()
        return cls(ex, channel, int(first), pump)

    def poll(self) -> int | None:
        if not self._channel.exit_status_ready():
            return None
        return self._channel.recv_exit_status()

    def _signal(self, signal: str) -> None:
        if self.poll() is None:
            self._ex.run(["kill", "-s", signal, str(self.pid)])

    def terminate(self) -> None:
        self._signal("TERM")

    def kill(self) -> None:
        self._signal("KILL")

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"{self._ex.where}: pid {self.pid}",
                                                timeout or 0)
            time.sleep(0.02)
        self._pump.join(timeout=2)
        self._channel.close()
        return status


def _copy_output(channel: paramiko.Channel, log: Path) -> None:
    with log.open("ab") as out:
        while chunk := channel.recv(65536):
            out.write(chunk)
            out.flush()


# -- the cluster --------------------------------------------------------------------------

class SshCluster(SharedFaults):
    """A raftkv cluster on the machines an inventory names, driven over SSH."""

    def __init__(self, spec: ClusterSpec, *, pool: SshPool | None = None,
                 binary: Path | None = None) -> None:
        if spec.inventory is None:
            raise InputError("--backend ssh needs --inventory FILE (see docs/ssh.md)")
        self.spec = spec
        self.name = spec.name
        self.inventory = load_inventory(spec.inventory)
        self.entries = {e.name: e for e in self.inventory.first(spec.nodes)}
        self._nodes = tuple(Node(e.name, int(e.name[1:]), node_ip(e), e.client_port,
                                 e.raft_port) for e in self.entries.values())
        self.dir = spec.run_dir / "cluster"
        self.binary = binary or Path(os.environ.get("RAFTKV_BIN") or DEFAULT_BINARY)
        self.notes: list[str] = []  # what a reader should know: recorded keys, uploads
        self._never_reached = False  # up() could not connect: there is nothing to undo
        self._lock = threading.Lock()
        self._digests: dict[tuple[Path, int, int], str] = {}  # (file, size, mtime) -> sha256
        self._interfaces: dict[str, str | None] = {}  # node -> the interface it is shaped on
        self.pool = pool or SshPool(
            known_hosts=self.inventory.known_hosts,
            accept_new_host_keys=spec.accept_new_host_keys,
            connect_timeout_s=self.inventory.connect_timeout_s,
            keepalive_s=self.inventory.keepalive_s,
            report=lambda message: self._note(message, logging.WARNING))
        self.faults = NetworkFaults(self.nodes, self.exec_in, self.dir, net_for=self.net_for)

    def _note(self, message: str, level: int = logging.INFO) -> None:
        log.log(level, "%s", message)
        with self._lock:
            self.notes.append(message)

    # addresses

    def nodes(self) -> Sequence[Node]:
        return self._nodes

    def _entry(self, node: str) -> InventoryNode:
        entry = self.entries.get(node)
        if entry is None:
            raise InputError(f"unknown node {node!r}; nodes are {', '.join(self.entries)}")
        return entry

    def _endpoint(self, node: str) -> Endpoint:
        return endpoint(self._entry(node))

    def layout(self, node: str) -> RemoteLayout:
        return RemoteLayout(self._entry(node).data_dir)

    def exec_in(self, node: str) -> RemoteExec:
        """Run programs on ``node``'s machine (as root through sudo if the node asks)."""
        entry = self._entry(node)
        return RemoteExec(str(endpoint(entry)), self.pool, endpoint(entry), entry.sudo)

    def net_for(self, node: str) -> NodeNet:
        """Where ``node``'s packets are shaped: its interface, the uploaded delayer."""
        return NodeNet(self.interface(node), delayer_program(self.layout(node)))

    def interface(self, node: str) -> str | None:
        """The interface ``node``'s traffic leaves by: the inventory's ``interface``, else
        the one that holds the node's address on its machine (asked once); None when no
        interface there holds it (the address is translated, say)."""
        with self._lock:
            if node in self._interfaces:
                return self._interfaces[node]
        entry = self._entry(node)
        found = entry.interface
        if found is None:
            found = parse_interface(self._run(node, interface_argv(self._node(node).ip),
                                              check=False, privileged=False).stdout)
        with self._lock:
            self._interfaces[node] = found
        return found

    def _run(self, node: str, argv: Sequence[str], *, check: bool = True,
             timeout: float = 60.0, privileged: bool = True) -> CommandResult:
        entry = self._entry(node)
        return self.pool.run(endpoint(entry), argv, sudo=entry.sudo and privileged,
                             check=check, timeout=timeout)

    def _each(self, fn: Callable[[str], T], nodes: Sequence[str] | None = None) -> list[T]:
        names = list(self.entries) if nodes is None else list(nodes)
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(names)))) as ex:
            return list(ex.map(fn, names))

    # lifecycle

    def up(self) -> None:
        try:
            self._check_local_files()
            self.pool.connect_all(endpoint(e) for e in self.entries.values())
        except BaseException:
            self._never_reached = True  # heal, collect_logs and down then wait for nothing
            self.pool.close()
            raise
        try:
            self._each(self._prepare)
            for node in self.entries:
                self.start(node)
            wait_healthy(self._nodes, self.spec.health_timeout_s, log_tail=self.log_tail,
                         hint="see <data_dir>/node/raftkv.log on the node's machine")
        except BaseException:
            self.down()
            raise

    def _check_local_files(self) -> None:
        if not self.binary.is_file():
            raise EnvironmentProblem(f"raftkv binary missing at {self.binary}: run "
                                     "`chaos cluster build` (or set RAFTKV_BIN)")
        clocks.find_libfaketime()

    def _prepare(self, node: str) -> None:
        """Check tools, stop a leftover daemon, install the files, start from a clean dir."""
        entry = self._entry(node)
        if entry.sudo:
            probe = self._run(node, ["true"], check=False)
            if probe.returncode != 0:
                raise EnvironmentProblem(f"{entry.ssh_label}: `sudo -n true` failed "
                                         "(sudo must not ask for a password)")
        missing = self._run(node, missing_tools_argv()).stdout.split()
        if missing:
            raise EnvironmentProblem(f"{entry.ssh_label}: missing on the machine: "
                                     f"{', '.join(missing)}")
        if self._process(node, "KILL") is not None:
            self._wait_gone(node, KILL_TIMEOUT_S)
            self._note(f"{node}: killed a raftkv left running by an earlier run",
                       logging.WARNING)
        self.install(node)
        layout = self.layout(node)
        self._run(node, ["rm", "-rf", "--", str(layout.node_dir)])
        self._run(node, ["mkdir", "-p", "--", str(layout.db)], privileged=False)
        self._write_clock(node, ClockSetting())

    def install(self, node: str) -> list[str]:
        """Upload raftkv, libfaketime and the delayer where they differ; says what it did."""
        layout = self.layout(node)
        self._run(node, ["mkdir", "-p", "--", str(layout.bin_dir)], privileged=False)
        files = ((self.binary, layout.raftkv),
                 (clocks.find_libfaketime(), layout.libfaketime),
                 (Path(nfqdelay.__file__), layout.nfqdelay))
        return [self._install_file(node, local, remote) for local, remote in files]

    def _install_file(self, node: str, local: Path, remote: PurePosixPath) -> str:
        want = self._digest(local)
        have = parse_sha256sum(self._run(node, ["sha256sum", "--", str(remote)],
                                         check=False, privileged=False).stdout)
        if have == want:
            message = f"{node}: {remote.name} unchanged (sha256 {want[:12]})"
            log.info("%s", message)
            return message
        partial = remote.with_name(remote.name + ".part")
        ep = self._endpoint(node)
        started = time.monotonic()
        with self.pool.sftp(ep) as sftp:
            sftp.put(str(local), str(partial))
            got = parse_sha256sum(self._run(node, ["sha256sum", "--", str(partial)],
                                            privileged=False).stdout)
            if got != want:
                sftp.remove(str(partial))
                raise EnvironmentProblem(f"{ep}: upload of {remote.name} is corrupt "
                                         f"(sha256 {got} != {want})")
            sftp.chmod(str(partial), 0o755)
            sftp.posix_rename(str(partial), str(remote))
        size_mb = local.stat().st_size / 1e6
        message = (f"{node}: {remote.name} uploaded ({size_mb:.1f} MB in "
                   f"{time.monotonic() - started:.1f}s, sha256 {want[:12]} verified)")
        self._note(message)
        return message

    def _digest(self, local: Path) -> str:
        """The file's SHA-256, computed once per version of the file."""
        stat = local.stat()
        key = (local, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._digests.get(key)
        if known is None:
            known = sha256_of(local)
            with self._lock:
                self._digests[key] = known
        return known

    def down(self) -> None:
        """Stop every daemon, undo faults, keep the logs locally, remove each node's data.

        The uploaded binaries stay, so the next ``up`` skips identical files.
        """
        if self._never_reached:
            return
        self.faults.close()
        with _best_effort("removing partitions"):
            self.faults.heal_network()
        with _best_effort("removing packet faults"):
            self.faults.clear_packet_faults()
        try:
            self._each(self._teardown)
        finally:
            self.pool.close()

    def _teardown(self, node: str) -> None:
        try:
            self.pool.client(self._endpoint(node))
        except EnvironmentProblem as e:
            log.warning("%s", e)  # an unreachable machine has nothing we can remove
            return
        if self._process(node, "KILL") is not None:
            self._wait_gone(node, KILL_TIMEOUT_S)
        with _best_effort(f"{node}: downloading logs"):
            self._fetch_log(node)
        self._run(node, ["rm", "-rf", "--", str(self.layout(node).node_dir)])

    # processes

    def _process(self, node: str, signal: str = "0") -> tuple[int, str] | None:
        """(pid, state before the signal) of the node's daemon, or None when not running."""
        result = self._run(node, process_argv(self.layout(node), signal), check=False)
        if result.returncode == NOT_RUNNING:
            return None
        if result.returncode != 0:
            raise RemoteCommandFailed(f"{self._endpoint(node)}: cannot inspect raftkv: "
                                      f"{result.stderr.strip() or result.stdout.strip()}")
        pid, state = result.stdout.split()
        return int(pid), state

    def _wait_gone(self, node: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._process(node) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_S)
        return True

    def start(self, node: str) -> None:
        """Start ``node``'s daemon unless it runs (faults on its machine stay in force)."""
        if self._process(node) is not None:
            return
        self._run(node, start_argv(self.layout(node), self._node(node), self._nodes,
                                   self.spec))
        deadline = time.monotonic() + 5
        while self._process(node) is None:
            if time.monotonic() > deadline:
                tail = " | ".join(self.log_tail(node, 3))
                raise RemoteCommandFailed(f"{self._endpoint(node)}: raftkv did not start: "
                                          f"{tail or 'no log output'}")
            time.sleep(POLL_S)

    def _node(self, node: str) -> Node:
        self._entry(node)
        return next(n for n in self._nodes if n.name == node)

    def kill(self, node: str) -> None:
        if self._process(node, "KILL") is not None and not self._wait_gone(node,
                                                                           KILL_TIMEOUT_S):
            raise RemoteCommandFailed(f"{self._endpoint(node)}: raftkv survived SIGKILL")

    def stop(self, node: str) -> None:
        if self._process(node, "CONT") is None:  # a paused process cannot act on SIGTERM
            return
        self._process(node, "TERM")
        if not self._wait_gone(node, STOP_TIMEOUT_S):
            self.kill(node)

    def pause(self, node: str) -> None:
        """SIGSTOP, and return once the process is stopped (a busy one takes a moment)."""
        if self._process(node, "STOP") is not None:
            self._await_state(node, stopped=True)

    def resume(self, node: str) -> None:
        if self._process(node, "CONT") is not None:
            self._await_state(node, stopped=False)

    def _await_state(self, node: str, *, stopped: bool, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (found := self._process(node)) is not None and (found[1] == "T") != stopped:
            if time.monotonic() > deadline:
                raise RemoteCommandFailed(f"{self._endpoint(node)}: raftkv did not "
                                          f"{'stop' if stopped else 'continue'} in "
                                          f"{timeout_s:g}s")
            time.sleep(POLL_S)

    def is_running(self, node: str) -> bool:
        """Whether the node's daemon exists (a paused one counts as running)."""
        return self._process(node) is not None

    def node_state(self, node: str) -> str:
        """``running``, ``paused`` or ``stopped``."""
        found = self._process(node)
        if found is None:
            return "stopped"
        return "paused" if found[1] == "T" else "running"

    # faults

    def partition(self, grudge: Grudge) -> list[str]:
        self._require_own_addresses()
        return super().partition(grudge)

    def _require_own_addresses(self) -> None:
        """Network faults act on a machine's firewall and interface: one node per address."""
        by_ip: dict[str, str] = {}
        for n in self._nodes:
            if n.ip in by_ip:
                raise EnvironmentProblem(
                    f"{by_ip[n.ip]} and {n.name} share the address {n.ip}: partitions and "
                    "packet faults need each node on its own address (see docs/ssh.md)")
            by_ip[n.ip] = n.name

    def set_packet_fault(self, node: str, fault: PacketFault,
                         peers: Sequence[str] = ()) -> list[str]:
        self._require_own_addresses()
        self._require_interface(node)
        return super().set_packet_fault(node, fault, peers)

    def _require_interface(self, node: str) -> None:
        """Packet faults need the interface the node's traffic leaves by, on its machine."""
        iface = self.interface(node)
        if iface is None:
            raise EnvironmentProblem(
                f"{self._endpoint(node)}: no interface on the machine holds {node}'s address "
                f"{self._node(node).ip}; name the one its traffic leaves by with "
                f"interface = \"...\" for {node} in the inventory")
        if self._run(node, ["ip", "link", "show", "dev", iface], check=False,
                     privileged=False).returncode:
            raise EnvironmentProblem(f"{self._endpoint(node)}: packet faults are applied to "
                                     f"{iface}, which this machine does not have")

    def set_clock(self, node: str, clock: ClockSetting) -> None:
        try:
            clocks.control_line(clock)
        except ValueError as e:
            raise InputError(str(e)) from e
        self._write_clock(node, clock)

    def _write_clock(self, node: str, clock: ClockSetting) -> None:
        """Write the control line in place (same width every time: readers never see it empty)."""
        path = str(self.layout(node).clock)
        with self.pool.sftp(self._endpoint(node)) as sftp:
            try:
                f = sftp.open(path, "r+")
            except FileNotFoundError:
                f = sftp.open(path, "w")
            with f:
                f.write(clocks.control_line(clock))
                f.truncate(len(clocks.control_line(clock)))

    def clock(self, node: str) -> ClockSetting:
        with self.pool.sftp(self._endpoint(node)) as sftp:
            try:
                with sftp.open(str(self.layout(node).clock), "r") as f:
                    return clocks.parse_control_line(f.read().decode(errors="replace"))
            except FileNotFoundError:
                return ClockSetting()

    def heal(self) -> list[str]:
        if self._never_reached:
            return []
        return super().heal()

    def heal_nodes(self) -> list[str]:
        """Each machine is healed in parallel: a remote round trip is slow."""
        return [line for lines in self._each(self.heal_node) for line in lines]

    # logs

    def log_tail(self, node: str, lines: int = 10) -> list[str]:
        try:
            result = self._run(node, ["tail", "-n", str(lines), "--",
                                      str(self.layout(node).log)], check=False)
        except EnvironmentProblem:
            return []
        return result.stdout.splitlines() if result.returncode == 0 else []

    def _fetch_log(self, node: str) -> None:
        target = self.dir / node
        target.mkdir(parents=True, exist_ok=True)
        with self.pool.sftp(self._endpoint(node)) as sftp, suppress(FileNotFoundError):
            sftp.get(str(self.layout(node).log), str(target / "raftkv.log"))

    def collect_logs(self, dest: Path) -> None:
        """Download each node's log (if its machine still has it) into ``dest/<node>/``."""
        if self._never_reached:
            return
        for node in self.entries:
            with _best_effort(f"{node}: downloading logs"):
                self._fetch_log(node)
            target = dest / node
            target.mkdir(parents=True, exist_ok=True)
            for name in ("raftkv.log", "nfqdelay.log"):
                source = self.dir / node / name
                if source.exists() and source.resolve() != (target / name).resolve():
                    shutil.copyfile(source, target / name)


@contextmanager
def _best_effort(what: str) -> Iterator[None]:
    """A cleanup step whose failure is logged with what was being done, not raised."""
    try:
        yield
    except Exception as e:
        log.warning("%s failed: %s", what, e)
