"""The local backend: each node a raftkv process in its own network namespace.

Per cluster, on this host (root needed):

- a bridge ``rcb<hash>`` (alias ``raft-chaos:<slug>``) holding ``<net>.1/24``, so the
  host reaches every node, plus one host ``FORWARD`` accept rule for the bridge
  (Docker's ``br_netfilter`` sends bridged packets through the host's filter table,
  whose ``FORWARD`` policy Docker sets to ``DROP``);
- per node ``nK`` a namespace ``raftchaos-<slug>-nK`` with ``eth0`` = ``<net>.1K``, the
  other end of a veth ``rc<hash><K>`` on the bridge;
- the raftkv binary (``cluster/node/target/release/raftkv`` or ``RAFTKV_BIN``) started
  there with ``ip netns exec``, libfaketime preloaded from the host, its data, log and
  clock control file under ``<run_dir>/cluster/``.

Faults are the same as Docker's (:mod:`cluster.netfaults` through ``ip netns exec``);
pause is SIGSTOP/SIGCONT. Process ids are kept in ``<run_dir>/cluster/local.json`` so a
later ``chaos cluster`` command finds the cluster; everything created carries the
``raftchaos-``/``raft-chaos:`` names, so :func:`find_leftovers` finds what a killed
run left and :func:`remove_leftovers` removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from cluster import clock as clocks
from cluster import subnets
from cluster.backends import slug_of
from cluster.base import ClockSetting, ClusterSpec, Node
from cluster.faulting import SharedFaults
from cluster.health import wait_healthy
from cluster.netfaults import DEFAULT_INTERFACE, NamespaceExec, NetworkFaults, PrefixExec
from harness.errors import EnvironmentProblem, InputError

NETNS_PREFIX = "raftchaos-"
ALIAS_PREFIX = "raft-chaos:"
DEFAULT_BINARY = Path(__file__).resolve().parent / "node" / "target" / "release" / "raftkv"
STOP_TIMEOUT_S = 10.0
STATE_FILE = "local.json"


# -- names (pure) -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LocalNames:
    """Every host-level name a local cluster uses, derived from its slug."""

    slug: str

    @property
    def short(self) -> str:  # interface names are at most 15 characters
        return hashlib.sha1(self.slug.encode()).hexdigest()[:8]

    @property
    def bridge(self) -> str:
        return f"rcb{self.short}"

    @property
    def alias(self) -> str:
        return f"{ALIAS_PREFIX}{self.slug}"

    def netns(self, node: str) -> str:
        return f"{NETNS_PREFIX}{self.slug}-{node}"

    def veth(self, node_id: int) -> str:
        return f"rc{self.short}{node_id}"


def forward_rule(names: LocalNames) -> list[str]:
    """The host ``FORWARD`` rule body that lets bridged packets between nodes pass."""
    return ["-i", names.bridge, "-o", names.bridge, "-j", "ACCEPT",
            "-m", "comment", "--comment", names.alias]


def raftkv_argv(binary: Path, node: Node, peers: str, data: Path, spec: ClusterSpec) -> list[str]:
    argv = [str(binary), "--id", str(node.id),
            "--listen", f"0.0.0.0:{node.client_port}",
            "--raft-listen", f"0.0.0.0:{node.raft_port}",
            "--peers", peers, "--data", str(data), "--read-mode", spec.read_mode]
    if spec.unsafe:
        argv += ["--unsafe", ",".join(spec.unsafe)]
    return argv


def peers_arg(nodes: Sequence[Node]) -> str:
    return ",".join(f"{n.id}={n.raft_addr}" for n in nodes)


# -- host commands ----------------------------------------------------------------------

def _host(argv: Sequence[str], *, check: bool = True, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                              timeout=30, check=False)
    except FileNotFoundError as e:
        raise EnvironmentProblem(f"{e.filename} not found: apt-get install iproute2 "
                                 "iptables") from e
    if check and done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise EnvironmentProblem(f"{shlex.join(argv)} failed: {reason}")
    return done.stdout


def _docker_subnets() -> list[IPv4Network]:
    """Subnets of Docker networks, when an engine is reachable (else none)."""
    from cluster.docker import docker_client, network_subnets

    try:
        client = docker_client()
    except EnvironmentProblem:
        return []
    try:
        return network_subnets(client)
    finally:
        client.close()


def _proc_start(pid: int) -> int | None:
    """The process's start time in clock ticks (to tell a reused pid apart), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19]) if len(fields) > 19 else None


def _proc_state(pid: int) -> str | None:
    """The one-letter state of a process (R, S, T, Z, ...), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _netns_pids(netns: str) -> list[int]:
    out = _host(["ip", "netns", "pids", netns], check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _proc_state(pid) in (None, "Z"):
            return True
        time.sleep(0.02)
    return False


# -- leftovers --------------------------------------------------------------------------

def our_namespaces(netns_list: str, slug: str | None) -> list[str]:
    """Node namespaces of cluster ``slug`` (exactly: not of ``slug-2``), or of every cluster."""
    pattern = re.compile(re.escape(NETNS_PREFIX) + (re.escape(slug) if slug else ".+")
                         + r"-n\d+")
    names = (line.split()[0] for line in netns_list.splitlines() if line.split())
    return [ns for ns in names if pattern.fullmatch(ns)]


def find_leftovers(slug: str | None = None) -> list[str]:
    """Namespaces, bridges and host rules of local clusters (of ``slug``, or all)."""
    found = []
    for ns in our_namespaces(_host(["ip", "netns", "list"], check=False), slug):
        found.append(f"netns {ns}")
    for bridge, alias in _our_bridges():
        if slug is None or alias == ALIAS_PREFIX + slug:
            found.append(f"bridge {bridge} ({alias})")
    for rule in _our_forward_rules(slug):
        found.append(f"host rule {shlex.join(rule)}")
    return found


def _our_bridges() -> list[tuple[str, str]]:
    out = _host(["ip", "-j", "link", "show", "type", "bridge"], check=False)
    links = json.loads(out or "[]")
    return [(link["ifname"], link.get("ifalias", "")) for link in links
            if link.get("ifalias", "").startswith(ALIAS_PREFIX)]


def comment_of(rule: Sequence[str]) -> str | None:
    """The ``--comment`` value of a rule given as ``iptables -S`` words."""
    for i, word in enumerate(rule[:-1]):
        if word == "--comment":
            return rule[i + 1]
    return None


def our_forward_rules(rules_text: str, slug: str | None) -> list[list[str]]:
    """Host ``FORWARD`` rules (as words, ``-A`` dropped) commented with a cluster's alias."""
    found = []
    for line in rules_text.splitlines():
        words = shlex.split(line)
        if words[:2] != ["-A", "FORWARD"]:
            continue
        comment = comment_of(words) or ""
        ours = comment == ALIAS_PREFIX + slug if slug else comment.startswith(ALIAS_PREFIX)
        if ours:
            found.append(words[1:])
    return found


def _our_forward_rules(slug: str | None) -> list[list[str]]:
    return our_forward_rules(_host(["iptables", "-w", "-S", "FORWARD"], check=False), slug)


def remove_leftovers(slug: str | None = None) -> list[str]:
    """Kill processes in, and delete, every namespace, bridge and host rule of ``slug``."""
    removed = []
    for ns in our_namespaces(_host(["ip", "netns", "list"], check=False), slug):
        pids = _netns_pids(ns)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            _wait_gone(pid, 5)
        _host(["ip", "netns", "delete", ns], check=False)
        removed.append(f"netns {ns}" + (f" (killed {len(pids)} processes)" if pids else ""))
    for bridge, alias in _our_bridges():
        if slug is None or alias == ALIAS_PREFIX + slug:
            _host(["ip", "link", "delete", bridge, "type", "bridge"], check=False)
            removed.append(f"bridge {bridge}")
    for rule in _our_forward_rules(slug):
        _host(["iptables", "-w", "-D", *rule], check=False)
        removed.append(f"host rule {shlex.join(rule)}")
    return removed


# -- the cluster ------------------------------------------------------------------------

class LocalCluster(SharedFaults):
    """A raftkv cluster of processes in network namespaces on this host."""

    def __init__(self, spec: ClusterSpec, binary: Path | None = None) -> None:
        if not 1 <= spec.nodes <= subnets.MAX_NODES:
            raise InputError(f"--nodes must be within 1..{subnets.MAX_NODES}, got {spec.nodes}")
        self.spec = spec
        self.name = spec.name
        self.names = LocalNames(slug_of(spec.name))
        self.dir = spec.run_dir / "cluster"
        self.binary = binary or Path(os.environ.get("RAFTKV_BIN") or DEFAULT_BINARY)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._pids: dict[str, tuple[int, int]] = {}  # node -> (pid, start time)
        self._subnet: IPv4Network | None = None
        self._nodes: list[Node] = []
        self._load_state()
        self.faults = NetworkFaults(self.nodes, self._exec_for, self.dir)

    # state

    def _state_path(self) -> Path:
        return self.dir / STATE_FILE

    def _load_state(self) -> None:
        try:
            state = json.loads(self._state_path().read_text())
        except (OSError, ValueError):
            return
        self._set_subnet(IPv4Network(state["subnet"]))
        self._pids = {n: (int(p[0]), int(p[1])) for n, p in state.get("pids", {}).items()}

    def _save_state(self) -> None:
        if self._subnet is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        state = {"name": self.name, "slug": self.names.slug, "subnet": str(self._subnet),
                 "bridge": self.names.bridge,
                 "pids": {n: list(p) for n, p in self._pids.items()}}
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self._state_path())

    def _set_subnet(self, subnet: IPv4Network) -> None:
        self._subnet = subnet
        self._nodes[:] = [Node(name=f"n{k}", id=k, ip=subnets.node_ip(subnet, k))
                          for k in range(1, self.spec.nodes + 1)]

    # addresses

    def nodes(self) -> Sequence[Node]:
        return tuple(self._nodes)

    def node(self, name: str) -> Node:
        for n in self._nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self._nodes) or "none (cluster is not up)"
        raise InputError(f"unknown node {name!r}; nodes are {known}")

    def exec_in(self, node: str) -> NamespaceExec:
        """Run programs inside ``node``'s network namespace (it exists while the cluster is up)."""
        self.node(node)
        ns = self.names.netns(node)
        return PrefixExec(f"{node} (netns {ns})", ("ip", "netns", "exec", ns))

    def _exec_for(self, node: str) -> NamespaceExec | None:
        """The node's namespace, or None once the cluster is down (nothing to act on)."""
        if not (Path("/run/netns") / self.names.netns(node)).exists():
            return None
        return self.exec_in(node)

    # lifecycle

    def up(self) -> None:
        self._preflight()
        if find_leftovers(self.names.slug):
            raise InputError(f"a local cluster named {self.names.slug!r} already exists: "
                             f"chaos cluster down --name {self.name}")
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._create_network()
            self._save_state()
            for node in self._nodes:
                shutil.rmtree(self._node_dir(node.name) / "data", ignore_errors=True)
                clocks.write_clock(self._clock_file(node.name), ClockSetting())
                self.start(node.name)
            wait_healthy(self._nodes, self.spec.health_timeout_s, log_tail=self.log_tail,
                         is_running=self.is_running,
                         hint=f"see {self.dir}/<node>/raftkv.log")
        except BaseException:
            self.down()
            raise

    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise EnvironmentProblem("the local backend needs root (network namespaces): "
                                     "run as root, or use --backend docker")
        for tool in ("ip", "iptables", "iptables-restore", "tc"):
            if shutil.which(tool) is None:
                raise EnvironmentProblem(f"`{tool}` not found: apt-get install iproute2 "
                                         "iptables")
        if not os.access(self.binary, os.X_OK):
            raise EnvironmentProblem(f"raftkv binary missing at {self.binary}: run "
                                     "`chaos cluster build` (or set RAFTKV_BIN)")
        clocks.find_libfaketime()

    def _create_network(self) -> None:
        names = self.names
        with subnets.subnet_lock():
            subnet = subnets.pick_subnet([*subnets.host_routes(), *_docker_subnets()],
                                         subnets.LOCAL_POOL)
            self._set_subnet(subnet)
            _host(["ip", "link", "add", names.bridge, "type", "bridge"])
            _host(["ip", "link", "set", names.bridge, "alias", names.alias])
            _host(["ip", "addr", "add", f"{subnets.gateway_ip(subnet)}/24",
                   "dev", names.bridge])
            _host(["ip", "link", "set", names.bridge, "up"])
        _host(["iptables", "-w", "-I", "FORWARD", "1", *forward_rule(names)])
        for node in self._nodes:
            ns, veth = names.netns(node.name), names.veth(node.id)
            _host(["ip", "netns", "add", ns])
            eth = DEFAULT_INTERFACE  # the interface netfaults shapes
            _host(["ip", "link", "add", veth, "type", "veth", "peer", "name", eth,
                   "netns", ns])
            _host(["ip", "link", "set", veth, "master", names.bridge, "up"])
            _host(["ip", "-n", ns, "addr", "add", f"{node.ip}/24", "dev", eth])
            _host(["ip", "-n", ns, "link", "set", eth, "up"])
            _host(["ip", "-n", ns, "link", "set", "lo", "up"])
            _host(["ip", "-n", ns, "route", "add", "default", "via",
                   subnets.gateway_ip(subnet)])

    def down(self) -> None:
        self.faults.close()
        for node, proc in list(self._procs.items()):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            del self._procs[node]
        remove_leftovers(self.names.slug)
        self._pids = {}
        self._save_state()

    # processes

    def _node_dir(self, node: str) -> Path:
        return self.dir / node

    def _clock_file(self, node: str) -> Path:
        return clocks.control_file(self.dir / "clock", node)

    def _pid(self, node: str) -> int | None:
        """The node's live process id (not a zombie, not a reused pid), or None."""
        proc = self._procs.get(node)
        if proc is not None:
            return proc.pid if proc.poll() is None else None
        entry = self._pids.get(node)
        if entry is None:
            return None
        pid, start = entry
        if _proc_start(pid) != start or _proc_state(pid) in (None, "Z"):
            return None
        return pid

    def start(self, node: str) -> None:
        """Start ``node``'s process if it is not running (its namespace keeps its faults)."""
        n = self.node(node)
        if self._pid(node) is not None:
            return
        data = self._node_dir(node) / "data"
        data.mkdir(parents=True, exist_ok=True)
        log = self._node_dir(node) / "raftkv.log"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RAFTKV_LOG": "info",
               **clocks.faketime_env(clocks.find_libfaketime(), self._clock_file(node))}
        argv = ["ip", "netns", "exec", self.names.netns(node),
                *raftkv_argv(self.binary, n, peers_arg(self._nodes), data, self.spec)]
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._procs[node] = proc
        start = None
        for _ in range(100):  # /proc entry appears at once; be patient on a loaded host
            start = _proc_start(proc.pid)
            if start is not None:
                break
            time.sleep(0.01)
        self._pids[node] = (proc.pid, start or 0)
        self._save_state()

    def _signal(self, node: str, sig: signal.Signals) -> int | None:
        self.node(node)
        pid = self._pid(node)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pid

    def kill(self, node: str) -> None:
        pid = self._signal(node, signal.SIGKILL)
        if pid is not None:
            self._reap(node, pid, 10)

    def stop(self, node: str) -> None:
        pid = self._signal(node, signal.SIGCONT)  # a paused process cannot act on SIGTERM
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        if not self._reap(node, pid, STOP_TIMEOUT_S):
            self.kill(node)

    def _reap(self, node: str, pid: int, timeout_s: float) -> bool:
        proc = self._procs.get(node)
        if proc is not None:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return False
            del self._procs[node]
            return True
        return _wait_gone(pid, timeout_s)

    def pause(self, node: str) -> None:
        self._wait_state(self._signal(node, signal.SIGSTOP), stopped=True)

    def resume(self, node: str) -> None:
        self._wait_state(self._signal(node, signal.SIGCONT), stopped=False)

    @staticmethod
    def _wait_state(pid: int | None, *, stopped: bool, timeout_s: float = 2.0) -> None:
        """Wait until the kernel shows the signal delivered (state T, or not T)."""
        deadline = time.monotonic() + timeout_s
        while pid is not None and time.monotonic() < deadline:
            state = _proc_state(pid)
            if state in (None, "Z") or (state == "T") == stopped:
                return
            time.sleep(0.005)

    def is_running(self, node: str) -> bool:
        """Whether the node's process exists (a paused one counts as running)."""
        self.node(node)
        return self._pid(node) is not None

    def node_state(self, node: str) -> str:
        """``running``, ``paused`` or ``stopped``."""
        pid = self._pid(node)
        if pid is None:
            return "stopped"
        return "paused" if _proc_state(pid) == "T" else "running"

    # faults

    def set_clock(self, node: str, clock: ClockSetting) -> None:
        self.node(node)
        try:
            clocks.write_clock(self._clock_file(node), clock)
        except ValueError as e:
            raise InputError(str(e)) from e

    def clock(self, node: str) -> ClockSetting:
        return clocks.read_clock(self._clock_file(node))

    # logs

    def log_tail(self, node: str, lines: int = 10) -> list[str]:
        try:
            text = (self._node_dir(node) / "raftkv.log").read_text(errors="replace")
        except OSError:
            return []
        return text.splitlines()[-lines:]

    def collect_logs(self, dest: Path) -> None:
        for n in self._nodes:
            target = dest / n.name
            target.mkdir(parents=True, exist_ok=True)
            for name in ("raftkv.log", "nfqdelay.log"):
                source = self._node_dir(n.name) / name
                if source.exists():
                    shutil.copyfile(source, target / name)
