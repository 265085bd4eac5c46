"""Network faults inside a node's network namespace: partitions and packet faults.

One implementation for every backend. What to run is decided by pure functions that
return argument lists and ``iptables-restore`` scripts; *where* it runs is a
:class:`NamespaceExec`: Docker prefixes ``nsenter -t PID -n``, the local backend
``ip netns exec NS``, and an SSH backend runs the same argv on the node's host.

Only the ``filter`` table is touched (Docker's DNS rules live in ``nat``), and only in
two chains of our own, so healing is a flush and delete of them:

- ``RAFTCHAOS-IN``, jumped to first from ``INPUT``: a partition. A grudge says which
  peers a node refuses to hear from; each becomes ``-s PEER_IP -j DROP`` on that node.
- ``RAFTCHAOS-OUT``, jumped to first from ``OUTPUT``: packet faults on what the node
  sends out of its interface (netem's egress semantics; ``eth0`` in Docker and local
  namespaces, per node on SSH machines: :class:`NodeNet`). Loss is ``-m statistic --mode random
  --probability p -j DROP`` (works everywhere, also for a single peer); rate is a
  ``tbf`` root qdisc. Delay, jitter, duplicate, reorder and corrupt use ``tc netem``
  where the kernel has it. Where it does not (no ``sch_netem``), delay, jitter and
  reorder are done by :mod:`cluster.nfqdelay`, a userspace delayer on ``NFQUEUE``, and
  duplicate/corrupt raise :class:`EnvironmentProblem`; the rule descriptions say which.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cluster.base import Grudge, Node, PacketFault
from harness.errors import EnvironmentProblem, InputError

CHAIN_IN = "RAFTCHAOS-IN"
CHAIN_OUT = "RAFTCHAOS-OUT"
HOOKS = {CHAIN_IN: "INPUT", CHAIN_OUT: "OUTPUT"}
DEFAULT_INTERFACE = "eth0"  # a Docker container's, and a local namespace's (cluster.local)
DELAYER_MODULE = "cluster.nfqdelay"
QUEUE = 4242  # NFQUEUE number; queues are per network namespace
NETEM_UNKNOWN = "Specified qdisc kind is unknown"
NO_NETEM = ("kernel lacks sch_netem (CONFIG_NET_SCH_NETEM); packet delay/duplicate/"
            "reorder/corrupt unavailable; loss and rate still work")
DELAYER_READY_S = 5.0


# -- where commands run ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class Spawned(Protocol):
    """A long-running helper process (the delayer); ``subprocess.Popen`` is one."""

    pid: int

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class NamespaceExec(Protocol):
    """Runs programs inside one node's network namespace."""

    @property
    def where(self) -> str:
        """The namespace, for messages, e.g. ``n2 (pid 4711)``."""
        ...

    def run(self, argv: Sequence[str], stdin: str | None = None) -> CommandResult: ...

    def spawn(self, argv: Sequence[str], log: Path) -> Spawned: ...


@dataclass(frozen=True, slots=True)
class PrefixExec:
    """A namespace entered from this host by a command prefix (nsenter, ip netns exec)."""

    where: str
    prefix: tuple[str, ...]
    timeout_s: float = 20.0

    def run(self, argv: Sequence[str], stdin: str | None = None) -> CommandResult:
        try:
            done = subprocess.run([*self.prefix, *argv], input=stdin, capture_output=True,
                                  text=True, timeout=self.timeout_s, check=False)
        except FileNotFoundError as e:
            raise EnvironmentProblem(f"{e.filename} not found: install it "
                                     "(apt-get install iproute2 iptables util-linux)") from e
        except subprocess.TimeoutExpired as e:
            raise EnvironmentProblem(f"{shlex.join(argv)} hung in {self.where}") from e
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def spawn(self, argv: Sequence[str], log: Path) -> Spawned:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            return subprocess.Popen([*self.prefix, *argv], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)


def checked(ex: NamespaceExec, argv: Sequence[str], stdin: str | None = None) -> CommandResult:
    """Run ``argv``; a non-zero exit is an EnvironmentProblem naming the command and node."""
    result = ex.run(argv, stdin)
    if result.returncode != 0:
        reason = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
        raise EnvironmentProblem(f"{shlex.join(argv)} failed in {ex.where}: {reason[-1]}")
    return result


# -- pure: iptables --------------------------------------------------------------------

def list_rules_argv() -> list[str]:
    return ["iptables", "-w", "-t", "filter", "-S"]


def restore_argv() -> list[str]:
    return ["iptables-restore", "-w", "--noflush"]


def has_chain(rules: str, chain: str) -> bool:
    """Whether ``iptables -S`` output declares ``chain``."""
    return f"-N {chain}" in rules.splitlines()


def has_jump(rules: str, chain: str) -> bool:
    return f"-A {HOOKS[chain]} -j {chain}" in rules.splitlines()


def chain_script(rules: str, chain: str, body: Sequence[str]) -> str:
    """An ``iptables-restore --noflush`` script that makes ``chain`` hold exactly ``body``.

    Declaring the chain creates it or flushes it; the jump from its hook is added first
    in the hook only when it is not there yet.
    """
    lines = ["*filter", f":{chain} - [0:0]"]
    if not has_jump(rules, chain):
        lines.append(f"-I {HOOKS[chain]} 1 -j {chain}")
    lines += [f"-A {chain} {rule}" for rule in body]
    return "\n".join([*lines, "COMMIT", ""])


def remove_chain_script(rules: str, chain: str) -> str | None:
    """A script that removes ``chain`` and its jump; None when neither exists."""
    lines = ["*filter"]
    if has_chain(rules, chain):
        lines.append(f"-F {chain}")
    if has_jump(rules, chain):
        lines.append(f"-D {HOOKS[chain]} -j {chain}")
    if has_chain(rules, chain):
        lines.append(f"-X {chain}")
    return "\n".join([*lines, "COMMIT", ""]) if len(lines) > 1 else None


def drop_from_rules(peer_ips: Iterable[str]) -> list[str]:
    """The ``RAFTCHAOS-IN`` body of a node that refuses to hear from ``peer_ips``."""
    return [f"-s {ip}/32 -j DROP" for ip in sorted(peer_ips)]


def loss_rules(loss_pct: float, dst_ips: Sequence[str] = (), *,
               iface: str = DEFAULT_INTERFACE) -> list[str]:
    """Random loss of packets sent out of ``iface`` (to ``dst_ips`` only, when given)."""
    if not 0 < loss_pct <= 100:
        return []
    match = f"-o {iface} -m statistic --mode random --probability {loss_pct / 100:.6g} -j DROP"
    return [f"-d {ip}/32 {match}" for ip in dst_ips] if dst_ips else [match]


def queue_rules(dst_ips: Sequence[str] = (), *, iface: str = DEFAULT_INTERFACE) -> list[str]:
    """Send outgoing packets to the delayer; ``--queue-bypass`` lets them pass without it."""
    match = f"-o {iface} -j NFQUEUE --queue-num {QUEUE} --queue-bypass"
    return [f"-d {ip}/32 {match}" for ip in dst_ips] if dst_ips else [match]


# -- pure: tc --------------------------------------------------------------------------

def needs_netem(fault: PacketFault) -> bool:
    """Whether the fault has a part only netem (or the delayer) can do."""
    return any((fault.delay_ms, fault.jitter_ms, fault.duplicate_pct, fault.reorder_pct,
                fault.corrupt_pct))


def netem_argv(fault: PacketFault, *, iface: str = DEFAULT_INTERFACE) -> list[str]:
    """``tc qdisc replace ... netem`` for everything except loss (which iptables does)."""
    argv = ["tc", "qdisc", "replace", "dev", iface, "root", "netem"]
    if fault.delay_ms or fault.jitter_ms:
        argv += ["delay", f"{fault.delay_ms:g}ms"]
        if fault.jitter_ms:
            argv.append(f"{fault.jitter_ms:g}ms")
    for name, pct in (("duplicate", fault.duplicate_pct), ("reorder", fault.reorder_pct),
                      ("corrupt", fault.corrupt_pct)):
        if pct:
            argv += [name, f"{pct:g}%"]
    if fault.rate_kbit:
        argv += ["rate", f"{fault.rate_kbit}kbit"]
    return argv


def tbf_argv(rate_kbit: int, *, iface: str = DEFAULT_INTERFACE) -> list[str]:
    """A token bucket at ``rate_kbit``: bursts of at least two full frames, 100 ms queue."""
    burst = max(3200, rate_kbit * 1000 // 8 // 50)
    return ["tc", "qdisc", "replace", "dev", iface, "root", "tbf", "rate", f"{rate_kbit}kbit",
            "burst", str(burst), "latency", "100ms"]


def show_qdisc_argv(iface: str = DEFAULT_INTERFACE) -> list[str]:
    return ["tc", "qdisc", "show", "dev", iface, "root"]


def delete_qdisc_argv(iface: str = DEFAULT_INTERFACE) -> list[str]:
    return ["tc", "qdisc", "del", "dev", iface, "root"]


def root_qdisc(show_output: str) -> str | None:
    """The kind of a root qdisc we may have added (tbf, netem), from ``tc qdisc show``."""
    for line in show_output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "qdisc" and words[1] in ("tbf", "netem"):
            return words[1]
    return None


def local_delayer() -> tuple[str, ...]:
    """The argv prefix that runs the delayer on this host: this Python, the module."""
    return (sys.executable, "-m", DELAYER_MODULE)


def delayer_argv(fault: PacketFault, program: Sequence[str] | None = None) -> list[str]:
    """The delayer's argv for ``fault``; ``program`` is the argv prefix that runs
    :mod:`cluster.nfqdelay` where the node is (default: :func:`local_delayer`)."""
    argv = [*(local_delayer() if program is None else program), "--queue", str(QUEUE),
            "--delay-ms", f"{fault.delay_ms:g}", "--exit-with-parent"]
    if fault.jitter_ms:
        argv += ["--jitter-ms", f"{fault.jitter_ms:g}"]
    if fault.reorder_pct:
        argv += ["--reorder-pct", f"{fault.reorder_pct:g}"]
    return argv


def describe_fault(fault: PacketFault) -> str:
    parts = []
    if fault.delay_ms or fault.jitter_ms:
        parts.append(f"delay {fault.delay_ms:g}ms" + (f" ±{fault.jitter_ms:g}ms"
                                                      if fault.jitter_ms else ""))
    for name, pct in (("loss", fault.loss_pct), ("duplicate", fault.duplicate_pct),
                      ("reorder", fault.reorder_pct), ("corrupt", fault.corrupt_pct)):
        if pct:
            parts.append(f"{name} {pct:g}%")
    if fault.rate_kbit:
        parts.append(f"rate {fault.rate_kbit}kbit")
    return ", ".join(parts) or "none"


def validate_fault(fault: PacketFault) -> None:
    for name in ("delay_ms", "jitter_ms", "rate_kbit"):
        if getattr(fault, name) < 0:
            raise InputError(f"packet fault {name} must be >= 0, got {getattr(fault, name)}")
    for name in ("loss_pct", "duplicate_pct", "reorder_pct", "corrupt_pct"):
        if not 0 <= getattr(fault, name) <= 100:
            raise InputError(f"packet fault {name} must be within 0..100, "
                             f"got {getattr(fault, name)}")


# -- applying, and remembering what is applied -----------------------------------------

ExecFor = Callable[[str], NamespaceExec | None]


@dataclass(frozen=True, slots=True)
class NodeNet:
    """Where a node's packets are shaped: ``interface``, the one they leave by (None:
    none is known, so no qdisc of ours can be there and packet faults cannot be applied),
    and ``delayer``, the argv prefix that runs :mod:`cluster.nfqdelay` on the node's side
    (None: :func:`local_delayer`)."""

    interface: str | None = DEFAULT_INTERFACE
    delayer: tuple[str, ...] | None = None


def default_net(node: str) -> NodeNet:
    """Docker containers and local namespaces: ``eth0``, the delayer run from here."""
    return NodeNet()


NetFor = Callable[[str], NodeNet]


class NetworkFaults:
    """Partitions and packet faults on a cluster's nodes, with what is active remembered.

    ``exec_for(node)`` gives the node's namespace, or None when the node is not running
    (nothing can be applied there; its faults are re-applied by :meth:`reapply` once it
    runs again, since a container's restart brings a fresh namespace). ``nodes()`` is
    asked each time, since a backend learns its addresses only when it comes up.
    ``net_for(node)`` says which interface to shape and how to run the delayer there
    (:class:`NodeNet`). Nodes are worked on in parallel.
    """

    def __init__(self, nodes: Callable[[], Sequence[Node]], exec_for: ExecFor,
                 log_dir: Path, *, net_for: NetFor = default_net) -> None:
        self._nodes = nodes
        self._exec_for = exec_for
        self._net_for = net_for
        self._log_dir = log_dir
        self._drop_from: dict[str, frozenset[str]] = {}
        self._packet: dict[str, tuple[PacketFault, tuple[str, ...]]] = {}
        self._delayers: dict[str, Spawned] = {}
        self._netem: dict[str, bool] = {}

    @property
    def _ips(self) -> dict[str, str]:
        return {n.name: n.ip for n in self._nodes()}

    # partitions

    def partition(self, grudge: Grudge) -> list[str]:
        """Make the grudge the partition (it replaces any earlier one); says each rule."""
        wanted: dict[str, frozenset[str]] = {}
        for node, peers in grudge.items():
            self._check_names([node, *peers])
            others = frozenset(peers) - {node}
            if others:
                wanted[node] = others
        touched = sorted(set(wanted) | set(self._drop_from))
        self._drop_from = wanted
        results = self._each(touched, self._apply_partition)
        return [line for lines in results for line in lines]

    def heal_network(self) -> list[str]:
        self._drop_from = {}
        results = self._each(sorted(self._ips), lambda n: self._remove_chain(n, CHAIN_IN))
        return [line for lines in results for line in lines]

    def _apply_partition(self, node: str) -> list[str]:
        peers = self._drop_from.get(node, frozenset())
        if not peers:
            return self._remove_chain(node, CHAIN_IN)
        ex = self._exec_for(node)
        rules = drop_from_rules(self._ips[p] for p in peers)
        desc = f"{node} drops packets from " + ", ".join(
            f"{p} ({self._ips[p]})" for p in sorted(peers))
        if ex is None:
            return [f"{desc} (pending: {node} is not running)"]
        current = checked(ex, list_rules_argv()).stdout
        checked(ex, restore_argv(), chain_script(current, CHAIN_IN, rules))
        return [desc]

    # packet faults

    def set_packet_fault(self, node: str, fault: PacketFault,
                         peers: Sequence[str] = ()) -> list[str]:
        """Replace ``node``'s packet fault on what it sends (to ``peers`` only, if given)."""
        self._check_names([node, *peers])
        validate_fault(fault)
        if peers and (fault.duplicate_pct or fault.corrupt_pct or fault.rate_kbit):
            raise InputError("per-peer packet faults support loss, delay, jitter and reorder "
                             "only")
        self._clear_packets(node)
        if fault == PacketFault():
            self._packet.pop(node, None)
            return [f"{node}: packet faults cleared"]
        self._packet[node] = (fault, tuple(self._ips[p] for p in sorted(peers)))
        return self._apply_packets(node)

    def clear_packet_faults(self) -> list[str]:
        self._packet = {}
        results = self._each(sorted(self._ips), self._clear_packets)
        return [line for lines in results for line in lines]

    def _apply_packets(self, node: str) -> list[str]:
        fault, dst_ips = self._packet[node]
        ex = self._exec_for(node)
        desc = f"{node}: {describe_fault(fault)}"
        if ex is None:
            return [f"{desc} (pending: {node} is not running)"]
        net = self._net_for(node)
        iface = net.interface
        if iface is None:
            raise EnvironmentProblem(f"{ex.where}: no network interface known to shape "
                                     f"{node}'s packets on")
        body = loss_rules(fault.loss_pct, dst_ips, iface=iface)
        how = []
        delayer = False
        if needs_netem(fault) and not dst_ips and self._netem.get(node, True):
            result = ex.run(netem_argv(fault, iface=iface))
            if result.returncode == 0:
                self._netem[node] = True
                how.append("netem")
            elif NETEM_UNKNOWN in result.stderr:
                self._netem[node] = False
            else:
                raise EnvironmentProblem(f"tc netem failed in {ex.where}: "
                                         f"{result.stderr.strip()}")
        netem_used = bool(how)
        if needs_netem(fault) and not netem_used:
            if fault.duplicate_pct or fault.corrupt_pct:
                raise EnvironmentProblem(NO_NETEM)
            delayer = True
            body += queue_rules(dst_ips, iface=iface)
            how.append("NFQUEUE delayer (no sch_netem)" if self._netem.get(node) is False
                       else "NFQUEUE delayer")
        if fault.rate_kbit and not netem_used:
            checked(ex, tbf_argv(fault.rate_kbit, iface=iface))
            how.append("tbf")
        if body:
            current = checked(ex, list_rules_argv()).stdout
            checked(ex, restore_argv(), chain_script(current, CHAIN_OUT, body))
            if fault.loss_pct:
                how.append("iptables statistic")
        if delayer:
            self._start_delayer(node, ex, delayer_argv(fault, net.delayer))
        return [f"{desc} via {', '.join(how)}" + (f" to {', '.join(dst_ips)}" if dst_ips
                                                   else "")]

    def _start_delayer(self, node: str, ex: NamespaceExec, argv: Sequence[str]) -> None:
        log = self._log_dir / node / "nfqdelay.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        proc = ex.spawn(argv, log)
        self._delayers[node] = proc
        deadline = time.monotonic() + DELAYER_READY_S
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "bound" in text:
                return
            if proc.poll() is not None:
                self._stop_delayer(node)
                raise EnvironmentProblem(f"packet delayer failed in {ex.where}: "
                                         f"{text.strip().splitlines()[-1:] or 'no output'}")
            time.sleep(0.02)
        self._stop_delayer(node)
        raise EnvironmentProblem(f"packet delayer did not start in {ex.where} within "
                                 f"{DELAYER_READY_S:g}s (see {log})")

    def _stop_delayer(self, node: str) -> bool:
        proc = self._delayers.pop(node, None)
        if proc is None:
            return False
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        return True

    def _clear_packets(self, node: str) -> list[str]:
        removed = []
        if self._stop_delayer(node):
            removed.append(f"{node}: packet delayer stopped")
        ex = self._exec_for(node)
        if ex is None:
            return removed
        removed += self._remove_chain(node, CHAIN_OUT)
        iface = self._net_for(node).interface
        if iface is None:
            return removed  # no interface we could have shaped
        kind = root_qdisc(checked(ex, show_qdisc_argv(iface)).stdout)
        if kind is not None:
            checked(ex, delete_qdisc_argv(iface))
            removed.append(f"{node}: {kind} qdisc removed from {iface}")
        return removed

    # both

    def _remove_chain(self, node: str, chain: str) -> list[str]:
        ex = self._exec_for(node)
        if ex is None:
            return []
        current = checked(ex, list_rules_argv()).stdout
        script = remove_chain_script(current, chain)
        if script is None:
            return []
        checked(ex, restore_argv(), script)
        return [f"{node}: {chain} removed"]

    def reapply(self, node: str) -> list[str]:
        """Apply ``node``'s remembered faults again (after it got a fresh namespace)."""
        self._stop_delayer(node)
        done = []
        if node in self._drop_from:
            done += self._apply_partition(node)
        if node in self._packet:
            done += self._apply_packets(node)
        return done

    def inspect(self, node: str) -> list[str]:
        """What of ours is present in ``node``'s namespace (chains, qdiscs, delayer)."""
        found = []
        if node in self._delayers and self._delayers[node].poll() is None:
            found.append(f"{node}: packet delayer pid {self._delayers[node].pid}")
        ex = self._exec_for(node)
        if ex is None:
            return found
        rules = checked(ex, list_rules_argv()).stdout
        found += [f"{node}: chain {c}" for c in HOOKS if has_chain(rules, c) or has_jump(rules, c)]
        iface = self._net_for(node).interface
        kind = None if iface is None else root_qdisc(checked(ex, show_qdisc_argv(iface)).stdout)
        if kind is not None:
            found.append(f"{node}: {kind} qdisc on {iface}")
        return found

    def active(self) -> Mapping[str, object]:
        """The faults currently in force, as plain data."""
        return {"partition": {n: sorted(p) for n, p in self._drop_from.items()},
                "packet": {n: {**f.to_dict(), **({"to": list(ips)} if ips else {})}
                           for n, (f, ips) in self._packet.items()}}

    def close(self) -> None:
        for node in list(self._delayers):
            self._stop_delayer(node)

    def _check_names(self, names: Iterable[str]) -> None:
        unknown = sorted(set(names) - set(self._ips))
        if unknown:
            raise InputError(f"unknown node(s) {', '.join(unknown)}; "
                             f"nodes are {', '.join(sorted(self._ips))}")

    def _each(self, nodes: Sequence[str], fn: Callable[[str], list[str]]) -> list[list[str]]:
        if len(nodes) <= 1:
            return [fn(n) for n in nodes]
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            return list(pool.map(fn, nodes))
