"""Network faults as argv and iptables-restore scripts; the applier with a fake namespace."""

from __future__ import annotations

import random
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from cluster import netfaults as nf
from cluster import nfqdelay
from cluster.base import Node, PacketFault
from harness.errors import EnvironmentProblem, InputError

EMPTY_RULES = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"
WITH_IN = EMPTY_RULES + ("-N RAFTCHAOS-IN\n-A INPUT -j RAFTCHAOS-IN\n"
                         "-A RAFTCHAOS-IN -s 10.0.0.12/32 -j DROP\n")


# -- pure --------------------------------------------------------------------------------

def test_chain_script_adds_the_jump_only_once() -> None:
    fresh = nf.chain_script(EMPTY_RULES, nf.CHAIN_IN, ["-s 10.0.0.12/32 -j DROP"])
    assert fresh.splitlines() == ["*filter", ":RAFTCHAOS-IN - [0:0]",
                                  "-I INPUT 1 -j RAFTCHAOS-IN",
                                  "-A RAFTCHAOS-IN -s 10.0.0.12/32 -j DROP", "COMMIT"]
    again = nf.chain_script(WITH_IN, nf.CHAIN_IN, [])
    assert "-I INPUT 1 -j RAFTCHAOS-IN" not in again
    assert ":RAFTCHAOS-IN - [0:0]" in again  # declaring it flushes the old rules


def test_remove_chain_script() -> None:
    assert nf.remove_chain_script(EMPTY_RULES, nf.CHAIN_IN) is None
    script = nf.remove_chain_script(WITH_IN, nf.CHAIN_IN)
    assert script is not None
    assert script.splitlines() == ["*filter", "-F RAFTCHAOS-IN", "-D INPUT -j RAFTCHAOS-IN",
                                   "-X RAFTCHAOS-IN", "COMMIT"]
    # The other chain is untouched and not mistaken for ours.
    assert nf.remove_chain_script(WITH_IN, nf.CHAIN_OUT) is None


def test_drop_rules_and_loss_rules() -> None:
    assert nf.drop_from_rules(["10.0.0.13", "10.0.0.12"]) == [
        "-s 10.0.0.12/32 -j DROP", "-s 10.0.0.13/32 -j DROP"]
    assert nf.loss_rules(0) == []
    assert nf.loss_rules(12.5) == [
        "-o eth0 -m statistic --mode random --probability 0.125 -j DROP"]
    per_peer = nf.loss_rules(100, ["10.0.0.12"])
    assert per_peer == ["-d 10.0.0.12/32 -o eth0 -m statistic --mode random "
                        "--probability 1 -j DROP"]


def test_netem_and_tbf_argv() -> None:
    fault = PacketFault(delay_ms=100, jitter_ms=10, duplicate_pct=1, rate_kbit=512)
    assert nf.netem_argv(fault) == ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem",
                                    "delay", "100ms", "10ms", "duplicate", "1%",
                                    "rate", "512kbit"]
    tbf = nf.tbf_argv(100)
    assert tbf[tbf.index("rate") + 1] == "100kbit"
    assert int(tbf[tbf.index("burst") + 1]) >= 3200
    assert nf.needs_netem(PacketFault(reorder_pct=5))
    assert not nf.needs_netem(PacketFault(loss_pct=5, rate_kbit=10))


def test_root_qdisc_parses_tc_output() -> None:
    assert nf.root_qdisc("qdisc noqueue 0: root refcnt 2\n") is None
    assert nf.root_qdisc("qdisc tbf 8001: root refcnt 2 rate 1Mbit burst 4Kb lat 50ms\n") == "tbf"
    assert nf.root_qdisc("qdisc netem 8002: root refcnt 2 limit 1000 delay 100ms\n") == "netem"


def test_describe_and_validate() -> None:
    assert nf.describe_fault(PacketFault(delay_ms=50, jitter_ms=5, loss_pct=10)) == (
        "delay 50ms ±5ms, loss 10%")
    with pytest.raises(InputError, match="loss_pct"):
        nf.validate_fault(PacketFault(loss_pct=150))
    with pytest.raises(InputError, match="delay_ms"):
        nf.validate_fault(PacketFault(delay_ms=-1))


def test_delayer_argv_exits_with_its_parent() -> None:
    argv = nf.delayer_argv(PacketFault(delay_ms=100, jitter_ms=20, reorder_pct=25))
    assert argv[1:3] == ["-m", "cluster.nfqdelay"]
    assert "--exit-with-parent" in argv
    assert argv[argv.index("--jitter-ms") + 1] == "20"
    assert argv[argv.index("--reorder-pct") + 1] == "25"


# -- the nfqueue protocol ------------------------------------------------------------------

def test_nfqueue_messages_round_trip() -> None:
    bind, _params = nfqdelay.config_messages(7)
    length, kind, flags, _seq, _pid = struct.unpack_from("=IHHII", bind)
    assert length == len(bind)
    assert kind == (nfqdelay.NFNL_SUBSYS_QUEUE << 8) | nfqdelay.NFQNL_MSG_CONFIG
    assert flags & nfqdelay.NLM_F_ACK
    assert struct.unpack_from("!H", bind, 18)[0] == 7  # queue number in nfgenmsg
    verdict = nfqdelay.verdict_message(7, 1234)
    assert struct.unpack_from("!II", verdict, 24) == (nfqdelay.NF_ACCEPT, 1234)

    # A packet message as the kernel sends it: header attribute with the packet id.
    attr = struct.pack("=HH", 11, nfqdelay.NFQA_PACKET_HDR) + struct.pack("!IHB", 99, 0x0800, 3)
    attr += b"\0" * (-len(attr) % 4)
    body = struct.pack("=BBH", 2, 0, 0) + attr
    packet = struct.pack("=IHHII", 16 + len(body),
                         (nfqdelay.NFNL_SUBSYS_QUEUE << 8) | nfqdelay.NFQNL_MSG_PACKET,
                         0, 0, 0) + body
    error = struct.pack("=IHHII", 36, nfqdelay.NLMSG_ERROR, 0, 0, 0) + struct.pack("=i", -1)
    error += b"\0" * 16
    assert nfqdelay.parse_messages(packet + error) == ([99], [1])


def test_delay_spec_holds_within_jitter_and_reorders() -> None:
    rng = random.Random(1)
    spec = nfqdelay.DelaySpec(delay_ms=100, jitter_ms=20)
    holds = [spec.hold_s(rng) for _ in range(500)]
    assert min(holds) >= 0.08 and max(holds) <= 0.12
    reorder = nfqdelay.DelaySpec(delay_ms=100, reorder_pct=50)
    immediate = sum(reorder.hold_s(rng) == 0 for _ in range(1000))
    assert 400 < immediate < 600


# -- the applier, with a fake namespace ------------------------------------------------------

class FakeNamespace:
    """Records every command; answers iptables -S from a tiny model of our chains."""

    def __init__(self, where: str, netem: bool = False) -> None:
        self.where = where
        self.netem = netem
        self.calls: list[list[str]] = []
        self.scripts: list[str] = []
        self.chains: dict[str, list[str]] = {}
        self.qdisc: str | None = None
        self.spawned: list[list[str]] = []

    def run(self, argv: Sequence[str], stdin: str | None = None) -> nf.CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:1] == ["iptables"]:
            lines = ["-P INPUT ACCEPT"]
            for chain, rules in self.chains.items():
                lines += [f"-N {chain}", f"-A {nf.HOOKS[chain]} -j {chain}"]
                lines += [f"-A {chain} {r}" for r in rules]
            return nf.CommandResult(0, "\n".join(lines) + "\n", "")
        if argv[:1] == ["iptables-restore"]:
            assert stdin is not None
            self.scripts.append(stdin)
            for line in stdin.splitlines():
                if line.startswith(":"):
                    self.chains[line[1:].split()[0]] = []
                elif line.startswith("-X "):
                    self.chains.pop(line.split()[1], None)
                elif line.startswith("-A RAFTCHAOS"):
                    chain, rule = line[3:].split(" ", 1)
                    self.chains[chain].append(rule)
            return nf.CommandResult(0, "", "")
        if argv[:3] == ["tc", "qdisc", "show"]:
            text = f"qdisc {self.qdisc} 8001: root refcnt 2\n" if self.qdisc else ""
            return nf.CommandResult(0, text, "")
        if argv[:3] == ["tc", "qdisc", "del"]:
            self.qdisc = None
            return nf.CommandResult(0, "", "")
        if argv[:3] == ["tc", "qdisc", "replace"]:
            kind = argv[6]
            if kind == "netem" and not self.netem:
                return nf.CommandResult(2, "", "Error: Specified qdisc kind is unknown.\n")
            self.qdisc = kind
            return nf.CommandResult(0, "", "")
        raise AssertionError(f"unexpected command {argv}")

    def spawn(self, argv: Sequence[str], log: Path) -> FakeDelayer:
        self.spawned.append(list(argv))
        log.write_text("nfqdelay: queue 4242 bound\n")
        return FakeDelayer()


class FakeDelayer:
    pid = 4242

    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.code = -15

    def kill(self) -> None:
        self.code = -9

    def wait(self, timeout: float | None = None) -> int:
        return self.code or 0


NODES = [Node("n1", 1, "10.0.0.11"), Node("n2", 2, "10.0.0.12"), Node("n3", 3, "10.0.0.13")]


@pytest.fixture
def spaces() -> dict[str, FakeNamespace]:
    return {n.name: FakeNamespace(n.name) for n in NODES}


def make_faults(spaces: dict[str, FakeNamespace], tmp_path: Path,
                down: frozenset[str] = frozenset()) -> nf.NetworkFaults:
    return nf.NetworkFaults(lambda: NODES, lambda n: None if n in down else spaces[n], tmp_path)


def test_partition_replaces_the_previous_grudge(spaces: dict[str, FakeNamespace],
                                               tmp_path: Path) -> None:
    faults = make_faults(spaces, tmp_path)
    said = faults.partition({"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}})
    assert said[0] == "n1 drops packets from n2 (10.0.0.12), n3 (10.0.0.13)"
    assert spaces["n1"].chains[nf.CHAIN_IN] == ["-s 10.0.0.12/32 -j DROP",
                                                "-s 10.0.0.13/32 -j DROP"]
    faults.partition({"n2": {"n3"}})
    assert nf.CHAIN_IN not in spaces["n1"].chains  # n1 no longer holds a grudge
    assert spaces["n2"].chains[nf.CHAIN_IN] == ["-s 10.0.0.13/32 -j DROP"]
    healed = faults.heal_network()
    assert healed == ["n2: RAFTCHAOS-IN removed"]
    assert all(not s.chains for s in spaces.values())


def test_unknown_nodes_are_input_errors(spaces: dict[str, FakeNamespace], tmp_path: Path) -> None:
    faults = make_faults(spaces, tmp_path)
    with pytest.raises(InputError, match="n7"):
        faults.partition({"n1": {"n7"}})
    with pytest.raises(InputError, match="n9"):
        faults.set_packet_fault("n9", PacketFault(loss_pct=1))


def test_delay_without_netem_uses_the_delayer(spaces: dict[str, FakeNamespace],
                                             tmp_path: Path) -> None:
    faults = make_faults(spaces, tmp_path)
    said = faults.set_packet_fault("n1", PacketFault(delay_ms=100, loss_pct=10))
    assert said == ["n1: delay 100ms, loss 10% via NFQUEUE delayer (no sch_netem), "
                    "iptables statistic"]
    rules = spaces["n1"].chains[nf.CHAIN_OUT]
    assert "statistic" in rules[0] and "NFQUEUE" in rules[1]  # loss first: dropped, not held
    assert spaces["n1"].spawned and "--delay-ms" in spaces["n1"].spawned[0]
    cleared = faults.clear_packet_faults()
    assert "n1: packet delayer stopped" in cleared
    assert "n1: RAFTCHAOS-OUT removed" in cleared
    assert not spaces["n1"].chains


def test_duplicate_without_netem_says_why(spaces: dict[str, FakeNamespace],
                                         tmp_path: Path) -> None:
    faults = make_faults(spaces, tmp_path)
    with pytest.raises(EnvironmentProblem, match="kernel lacks sch_netem"):
        faults.set_packet_fault("n2", PacketFault(duplicate_pct=5))


def test_netem_is_used_where_the_kernel_has_it(tmp_path: Path) -> None:
    spaces = {n.name: FakeNamespace(n.name, netem=True) for n in NODES}
    faults = make_faults(spaces, tmp_path)
    said = faults.set_packet_fault("n1", PacketFault(delay_ms=50, corrupt_pct=1, rate_kbit=100))
    assert said == ["n1: delay 50ms, corrupt 1%, rate 100kbit via netem"]
    assert spaces["n1"].qdisc == "netem" and not spaces["n1"].spawned
    assert faults.clear_packet_faults() == ["n1: netem qdisc removed from eth0"]


def test_rate_without_netem_is_a_tbf(spaces: dict[str, FakeNamespace], tmp_path: Path) -> None:
    faults = make_faults(spaces, tmp_path)
    assert faults.set_packet_fault("n3", PacketFault(rate_kbit=64)) == [
        "n3: rate 64kbit via tbf"]
    assert spaces["n3"].qdisc == "tbf"


def test_faults_on_a_stopped_node_wait_for_reapply(spaces: dict[str, FakeNamespace],
                                                  tmp_path: Path) -> None:
    down = {"n2"}
    faults = nf.NetworkFaults(lambda: NODES, lambda n: None if n in down else spaces[n], tmp_path)
    said = faults.partition({"n2": {"n1"}, "n1": {"n2"}})
    assert "n2 drops packets from n1 (10.0.0.11) (pending: n2 is not running)" in said
    assert nf.CHAIN_IN not in spaces["n2"].chains
    down.clear()  # the node restarted with a fresh namespace
    assert faults.reapply("n2") == ["n2 drops packets from n1 (10.0.0.11)"]
    assert spaces["n2"].chains[nf.CHAIN_IN] == ["-s 10.0.0.11/32 -j DROP"]
    assert faults.active() == {"partition": {"n1": ["n2"], "n2": ["n1"]}, "packet": {}}


def test_per_peer_faults(spaces: dict[str, FakeNamespace], tmp_path: Path) -> None:
    faults = make_faults(spaces, tmp_path)
    faults.set_packet_fault("n1", PacketFault(loss_pct=30), peers=["n3"])
    assert spaces["n1"].chains[nf.CHAIN_OUT] == [
        "-d 10.0.0.13/32 -o eth0 -m statistic --mode random --probability 0.3 -j DROP"]
    with pytest.raises(InputError, match="per-peer"):
        faults.set_packet_fault("n1", PacketFault(rate_kbit=10), peers=["n2"])


# -- per-node interface and delayer ----------------------------------------------------------

def test_argv_builders_take_the_interface() -> None:
    assert nf.loss_rules(50, iface="ens3") == [
        "-o ens3 -m statistic --mode random --probability 0.5 -j DROP"]
    assert nf.queue_rules(["10.0.0.12"], iface="bond0") == [
        "-d 10.0.0.12/32 -o bond0 -j NFQUEUE --queue-num 4242 --queue-bypass"]
    assert nf.netem_argv(PacketFault(delay_ms=5), iface="ens3")[:7] == [
        "tc", "qdisc", "replace", "dev", "ens3", "root", "netem"]
    assert nf.tbf_argv(64, iface="ens3")[4] == "ens3"
    assert nf.show_qdisc_argv("ens3") == ["tc", "qdisc", "show", "dev", "ens3", "root"]
    assert nf.delete_qdisc_argv() == ["tc", "qdisc", "del", "dev", "eth0", "root"]


def test_delayer_argv_takes_the_program_that_runs_it() -> None:
    fault = PacketFault(delay_ms=30, jitter_ms=5)
    remote = nf.delayer_argv(fault, ["python3", "/srv/rc/bin/nfqdelay.py"])
    local = nf.delayer_argv(fault)
    assert remote[:2] == ["python3", "/srv/rc/bin/nfqdelay.py"]
    assert local[:3] == list(nf.local_delayer()) == [sys.executable, "-m", "cluster.nfqdelay"]
    assert remote[2:] == local[3:]


def per_node(spaces: dict[str, FakeNamespace], tmp_path: Path,
             nets: dict[str, nf.NodeNet]) -> nf.NetworkFaults:
    return nf.NetworkFaults(lambda: NODES, lambda n: spaces[n], tmp_path,
                            net_for=lambda n: nets.get(n, nf.NodeNet()))


def test_each_node_is_shaped_on_its_own_interface_with_its_own_delayer(
        spaces: dict[str, FakeNamespace], tmp_path: Path) -> None:
    nets = {"n1": nf.NodeNet("ens3", ("python3", "/srv/rc/bin/nfqdelay.py")),
            "n2": nf.NodeNet("bond0")}
    faults = per_node(spaces, tmp_path, nets)
    faults.set_packet_fault("n1", PacketFault(delay_ms=40, loss_pct=5))
    faults.set_packet_fault("n2", PacketFault(rate_kbit=64))
    faults.set_packet_fault("n3", PacketFault(loss_pct=1))
    assert all("-o ens3 " in r for r in spaces["n1"].chains[nf.CHAIN_OUT])
    assert spaces["n1"].spawned[0][:2] == ["python3", "/srv/rc/bin/nfqdelay.py"]
    assert "--delay-ms" in spaces["n1"].spawned[0]
    assert spaces["n2"].calls[-1][:5] == ["tc", "qdisc", "replace", "dev", "bond0"]
    assert spaces["n3"].chains[nf.CHAIN_OUT][0].startswith("-o eth0 ")
    cleared = faults.clear_packet_faults()
    assert "n2: tbf qdisc removed from bond0" in cleared
    assert ["tc", "qdisc", "del", "dev", "bond0", "root"] in spaces["n2"].calls


def test_a_node_without_a_known_interface_gets_no_packet_fault_and_heals_cleanly(
        spaces: dict[str, FakeNamespace], tmp_path: Path) -> None:
    faults = per_node(spaces, tmp_path, {"n1": nf.NodeNet(None)})
    with pytest.raises(EnvironmentProblem, match="no network interface"):
        faults.set_packet_fault("n1", PacketFault(loss_pct=10))
    assert nf.CHAIN_OUT not in spaces["n1"].chains
    spaces["n1"].calls.clear()
    assert faults.clear_packet_faults() == []
    assert not any(c[:2] == ["tc", "qdisc"] for c in spaces["n1"].calls)
    assert faults.inspect("n1") == []
