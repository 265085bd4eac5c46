"""``chaos heal`` without a cluster: what it does at one node (against a fake namespace),
and the command's output and exit code. The real thing is in test_nemesis_real.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from cluster import clock as clocks
from cluster.base import ClockSetting
from cluster.netfaults import CommandResult, Spawned
from nemesis import leftovers
from nemesis.heal_cmd import heal
from nemesis.leftovers import HealReport, Site, faults_at, heal_site

RULES_WITH_OURS = """-P INPUT ACCEPT
-P FORWARD ACCEPT
-P OUTPUT ACCEPT
-N RAFTCHAOS-IN
-A INPUT -j RAFTCHAOS-IN
-A RAFTCHAOS-IN -s 10.0.0.12/32 -j DROP
"""
TBF = "qdisc tbf 8001: root refcnt 2 rate 512Kbit burst 3200b lat 100ms\n"


class FakeNamespace:
    """A node's namespace: iptables and tc answer from state; every command is recorded."""

    where = "n1 (fake)"

    def __init__(self, rules: str, qdisc: str) -> None:
        self.rules, self.qdisc = rules, qdisc
        self.ran: list[tuple[list[str], str | None]] = []

    def run(self, argv: Sequence[str], stdin: str | None = None) -> CommandResult:
        self.ran.append((list(argv), stdin))
        if argv[0] == "iptables":
            return CommandResult(0, self.rules, "")
        if argv[0] == "iptables-restore":
            self.rules = "-P INPUT ACCEPT\n"
            return CommandResult(0, "", "")
        if argv[:3] == ["tc", "qdisc", "show"]:
            return CommandResult(0, self.qdisc, "")
        if argv[:3] == ["tc", "qdisc", "del"]:
            self.qdisc = "qdisc noqueue 0: root refcnt 2\n"
            return CommandResult(0, "", "")
        raise AssertionError(f"unexpected command {argv}")

    def spawn(self, argv: Sequence[str], log: Path) -> Spawned:
        raise AssertionError("heal never spawns")


def site(tmp_path: Path, ns: FakeNamespace | None, *, frozen: bool = False,
         clock: ClockSetting | None = None) -> tuple[Site, list[str]]:
    thawed: list[str] = []
    control = tmp_path / "n1" / "faketime"
    if clock is not None:
        clocks.write_clock(control, clock)
    return Site("docker", "t1", "n1", ns, None, frozen, lambda: thawed.append("n1"),
                control if clock is not None else None), thawed


def test_heal_site_removes_chains_qdisc_pause_and_clock_and_says_so(tmp_path: Path) -> None:
    ns = FakeNamespace(RULES_WITH_OURS, TBF)
    s, thawed = site(tmp_path, ns, frozen=True, clock=ClockSetting(offset_ms=-2500, rate=0.5))
    assert faults_at(s) == ["docker t1 n1: paused", "docker t1 n1: iptables chain RAFTCHAOS-IN",
                            "docker t1 n1: tbf qdisc", "docker t1 n1: clock -2.500 x0.5"]
    assert thawed == [], "looking changes nothing"
    removed = heal_site(s)
    assert removed == ["docker t1 n1: resumed", "docker t1 n1: iptables chain RAFTCHAOS-IN removed",
                       "docker t1 n1: tbf qdisc removed",
                       "docker t1 n1: clock -2.500 x0.5 reset to real time"]
    assert thawed == ["n1"]
    restore = next(stdin for argv, stdin in ns.ran if argv[0] == "iptables-restore")
    assert restore is not None
    assert "-D INPUT -j RAFTCHAOS-IN" in restore and "-X RAFTCHAOS-IN" in restore
    assert clocks.read_clock(tmp_path / "n1" / "faketime").is_real
    healed, _ = site(tmp_path, ns, clock=ClockSetting())
    assert heal_site(healed) == [] and faults_at(healed) == [], "idempotent"


def test_a_stopped_node_only_has_its_clock_to_heal(tmp_path: Path) -> None:
    s, _ = site(tmp_path, None, clock=ClockSetting(offset_ms=700))
    assert heal_site(s) == ["docker t1 n1: clock +0.700 reset to real time"]


def test_heal_command_lists_what_it_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str | None, bool, bool, tuple[str, ...]]] = []

    def fake(slug: str | None = None, *, down: bool = False, dry_run: bool = False,
             backends: tuple[str, ...] = ("docker", "local")) -> HealReport:
        calls.append((slug, down, dry_run, backends))
        if len(calls) > 1:
            return HealReport([], ["docker: not looked at (no engine)"])
        return HealReport(["docker t1 n1: resumed", "docker t1 n2: tbf qdisc removed"], [])

    monkeypatch.setattr("nemesis.heal_cmd.heal_leftovers", fake)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    runner = CliRunner()
    first = runner.invoke(heal, ["--name", "T1"], standalone_mode=False)
    assert first.exit_code == 0 and first.return_value == 0
    assert first.output.splitlines() == ["docker t1 n1: resumed", "docker t1 n2: tbf qdisc removed"]
    second = runner.invoke(heal, ["--backend", "docker", "--dry-run", "--down"],
                           standalone_mode=False)
    assert "nothing to heal" in second.output and "note: docker: not looked at" in second.output
    assert calls == [("t1", False, False, ("docker", "local")),
                     (None, True, True, ("docker",))]


def test_heal_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    result = CliRunner().invoke(heal, [], standalone_mode=False)
    assert "needs root" in str(result.exception)


def test_local_namespace_names_parse_into_cluster_and_node() -> None:
    match = leftovers.LOCAL_NETNS.match("raftchaos-register-kill-2024-n12")
    assert match is not None and match["slug"] == "register-kill-2024" and match["node"] == "n12"
    assert leftovers.LOCAL_NETNS.match("other-ns") is None
