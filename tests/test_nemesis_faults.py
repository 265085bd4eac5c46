"""Each nemesis against the in-memory fake cluster: what it does, what its completion
says, how it fails, and that teardown heals."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from test_nemesis_fakes import FakeCluster, FakeNodeAPI

from cluster.base import ClockSetting, PacketFault
from harness.client import DefiniteError, IndeterminateError
from harness.errors import EnvironmentProblem
from harness.op import Op
from nemesis.base import Nemesis
from nemesis.clock import ClockNemesis
from nemesis.compose import compose
from nemesis.membership import MembershipNemesis
from nemesis.packet import PacketNemesis
from nemesis.partition import PartitionNemesis
from nemesis.process import KillNemesis, PauseNemesis


@pytest.fixture(autouse=True)
def _fake_clocks_settle_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake cluster's clocks change at once: no waiting for libfaketime."""
    monkeypatch.setattr("nemesis.clock.SETTLE_S", 0.0)


def invoke(nemesis: Any, f: str, value: Any = None) -> Op:
    done = nemesis.invoke(Op(process="nemesis", type="invoke", f=f, value=value))
    assert done.process == "nemesis" and done.f == f and done.type in ("ok", "info", "fail")
    return done


def setup(kind: Any, n: int = 5, seed: int = 1, **api_args: Any) -> tuple[Any, FakeCluster,
                                                                          FakeNodeAPI]:
    cluster = FakeCluster(n)
    api = FakeNodeAPI(cluster, **api_args)
    nemesis = kind(random.Random(seed), api)
    nemesis.setup(cluster)
    return nemesis, cluster, api


# -- partition ---------------------------------------------------------------------------

def test_partition_applies_the_grudge_and_says_which_rules() -> None:
    nemesis, cluster, _ = setup(PartitionNemesis)
    done = invoke(nemesis, "start-partition", "one")
    assert done.type == "ok"
    (alone,) = [n for n, dropped in done.value["grudge"].items() if len(dropped) == 4]
    assert cluster.grudge[alone] == {"n1", "n2", "n3", "n4", "n5"} - {alone}
    assert done.value["rules"] == cluster.partition(cluster.grudge)
    assert done.value["partition"] == "one"
    stopped = invoke(nemesis, "stop-partition")
    assert stopped.type == "ok" and stopped.value["removed"] and cluster.grudge == {}


def test_partition_primaries_cuts_off_every_node_claiming_leadership() -> None:
    nemesis, cluster, api = setup(PartitionNemesis, leader="n3")
    api.claims["n5"] = 2  # an old leader that has not noticed
    done = invoke(nemesis, "start-partition", "primaries")
    assert done.type == "ok"
    assert cluster.grudge["n3"] == {"n1", "n2", "n4", "n5"}
    assert cluster.grudge["n5"] == {"n1", "n2", "n3", "n4"}
    assert cluster.grudge["n1"] == {"n3", "n5"}


def test_partition_without_a_leader_does_nothing_and_says_so() -> None:
    nemesis, cluster, _ = setup(PartitionNemesis, leader=None)
    done = invoke(nemesis, "start-partition", "primaries")
    assert done.type == "fail" and "no node claims leadership" in done.error
    assert cluster.calls_to("partition") == []


def test_a_new_partition_replaces_the_old_one() -> None:
    nemesis, cluster, _ = setup(PartitionNemesis)
    invoke(nemesis, "start-partition", [["n1", "n2"], ["n3", "n4", "n5"]])
    done = invoke(nemesis, "start-partition", ["n5"])
    assert done.value["replaced"] and cluster.grudge["n1"] == {"n5"}
    assert cluster.grudge["n5"] == {"n1", "n2", "n3", "n4"}


def test_partition_bad_spec_and_backend_errors() -> None:
    nemesis, cluster, _ = setup(PartitionNemesis)
    bad = invoke(nemesis, "start-partition", ["n9"])
    assert bad.type == "fail" and "n9" in bad.error and cluster.calls_to("partition") == []
    cluster.fail["partition"] = EnvironmentProblem("iptables-restore failed in n2")
    broken = invoke(nemesis, "start-partition", "halves")
    assert broken.type == "info" and "iptables-restore failed" in broken.error
    assert broken.value["grudge"], "the completion still says what was attempted"


def test_partition_same_seed_same_grudges() -> None:
    def grudges(seed: int) -> list[Any]:
        nemesis, _, _ = setup(PartitionNemesis, seed=seed)
        return [invoke(nemesis, "start-partition", s).value["grudge"]
                for s in ("one", "halves", "bridge", "majorities-ring", "minority-third")]

    assert grudges(7) == grudges(7)
    assert grudges(7) != grudges(8)


def test_partition_teardown_heals() -> None:
    nemesis, cluster, _ = setup(PartitionNemesis)
    invoke(nemesis, "start-partition", "bridge")
    nemesis.teardown()
    assert cluster.grudge == {}


# -- kill and pause ----------------------------------------------------------------------

def test_kill_targets_then_start_brings_back_exactly_the_stopped_nodes() -> None:
    nemesis, cluster, _ = setup(KillNemesis)
    done = invoke(nemesis, "kill", "minority")
    assert done.type == "ok" and len(done.value["nodes"]) == 2
    assert cluster.running == {"n1", "n2", "n3", "n4", "n5"} - set(done.value["nodes"])
    started = invoke(nemesis, "start", "all")
    assert started.type == "ok" and started.value["nodes"] == done.value["nodes"]
    assert cluster.is_healed()
    again = invoke(nemesis, "start")
    assert again.type == "ok" and again.value["nodes"] == []


def test_kill_primaries_kills_the_leader_and_refuses_without_one() -> None:
    nemesis, _cluster, api = setup(KillNemesis, leader="n4")
    assert invoke(nemesis, "kill", "primaries").value["nodes"] == ["n4"]
    api.leader = None
    done = invoke(nemesis, "kill", "primaries")
    assert done.type == "fail" and "leadership" in done.error


def test_kill_errors_are_reported_per_node() -> None:
    nemesis, cluster, _ = setup(KillNemesis)
    cluster.fail["kill"] = EnvironmentProblem("docker kill: no such container")
    cluster.fail_nodes = {"n2"}
    partial = invoke(nemesis, "kill", ["n1", "n2"])
    assert partial.type == "info" and partial.value["nodes"] == ["n1"]
    assert partial.error == "n2: docker kill: no such container"
    total = invoke(nemesis, "kill", ["n2"])
    assert total.type == "fail" and total.value["nodes"] == [], "a definite error: not killed"
    cluster.fail["kill"] = TimeoutError("docker kill timed out")
    unknown = invoke(nemesis, "kill", ["n2"])
    assert unknown.type == "info" and unknown.value["nodes"] == [], "it may have been killed"


def test_process_faults_skip_nodes_in_the_wrong_state_and_say_so() -> None:
    nemesis, cluster, _ = setup(KillNemesis)
    invoke(nemesis, "kill", ["n2"])
    done = invoke(nemesis, "kill", "all")
    assert done.value["nodes"] == ["n1", "n3", "n4", "n5"]
    assert done.value["skipped"] == {"n2": "not running"}
    assert cluster.calls_to("kill") == [("n2",), ("n1",), ("n3",), ("n4",), ("n5",)]
    assert invoke(nemesis, "kill", ["n1"]).type == "fail"
    invoke(nemesis, "start", ["n1"])
    again = invoke(nemesis, "start", ["n1"])
    assert again.type == "fail" and again.error == "no target: n1 already running"
    pause, _, _ = setup(PauseNemesis)
    pause.setup(cluster)
    refused = invoke(pause, "pause", ["n2"])
    assert refused.type == "fail" and "not running" in refused.error and not cluster.paused


def test_pause_then_resume_all_thaws_what_was_paused() -> None:
    nemesis, cluster, _ = setup(PauseNemesis)
    paused = invoke(nemesis, "pause", "majority").value["nodes"]
    assert len(paused) == 3 and cluster.paused == set(paused)
    resumed = invoke(nemesis, "resume", "all")
    assert resumed.type == "ok" and resumed.value["nodes"] == paused and not cluster.paused
    assert invoke(nemesis, "resume").value["nodes"] == []


def test_resume_skips_a_paused_node_that_was_killed_since() -> None:
    cluster = FakeCluster(3)
    api = FakeNodeAPI(cluster)
    pause, kill = PauseNemesis(random.Random(0), api), KillNemesis(random.Random(0), api)
    pause.setup(cluster)
    kill.setup(cluster)
    invoke(pause, "pause", ["n1", "n2"])
    invoke(kill, "kill", ["n1"])
    done = invoke(pause, "resume")
    assert done.type == "ok" and done.value["nodes"] == ["n2"]


def test_pause_teardown_resumes() -> None:
    nemesis, cluster, _ = setup(PauseNemesis)
    invoke(nemesis, "pause", "all")
    nemesis.teardown()
    assert cluster.paused == set()


def test_kill_teardown_starts_stopped_nodes() -> None:
    nemesis, cluster, _ = setup(KillNemesis)
    invoke(nemesis, "kill", "all")
    nemesis.teardown()
    assert cluster.is_healed()


# -- clock -------------------------------------------------------------------------------

def test_bump_clock_moves_the_offset_and_the_completion_shows_it() -> None:
    nemesis, cluster, _ = setup(ClockNemesis)
    done = invoke(nemesis, "bump-clock", {"targets": ["n2"], "delta_ms": 1500})
    assert done.type == "ok"
    assert cluster.clocks == {"n2": ClockSetting(offset_ms=1500)}
    assert done.value["nodes"] == {"n2": {"offset_ms": 1500, "rate": 1.0}}
    assert abs(done.value["offsets_ms"]["n2"] - 1500) < 200
    assert abs(done.value["offsets_ms"]["n1"]) < 200
    again = invoke(nemesis, "bump-clock", {"targets": ["n2"], "delta_ms": -500})
    assert again.value["nodes"]["n2"]["offset_ms"] == 1000, "bumps add up"


def test_random_bumps_and_rates_stay_in_their_ranges() -> None:
    nemesis, cluster, _ = setup(ClockNemesis)
    done = invoke(nemesis, "bump-clock", {"targets": "all", "delta_ms": [-4000, -2000]})
    assert all(-4000 <= d <= -2000 for d in done.value["delta_ms"].values())
    assert len(done.value["delta_ms"]) == 5
    rated = invoke(nemesis, "rate-clock", {"targets": "one", "rate": [0.25, 0.5]})
    ((node, rate),) = rated.value["rate"].items()
    assert rate in (0.25, 0.5)
    assert cluster.clocks[node].rate == rate
    assert cluster.clocks[node].offset_ms == done.value["delta_ms"][node], "rate keeps the offset"
    free = invoke(nemesis, "bump-clock", "one")
    (delta,) = free.value["delta_ms"].values()
    assert 128 <= abs(delta) <= 16384


def test_reset_clock_and_check_offsets() -> None:
    nemesis, cluster, _ = setup(ClockNemesis)
    invoke(nemesis, "bump-clock", {"targets": "all", "delta_ms": 3000})
    checked = invoke(nemesis, "check-clock-offsets")
    assert all(abs(o - 3000) < 200 for o in checked.value["offsets_ms"].values())
    done = invoke(nemesis, "reset-clock")
    assert done.type == "ok" and done.value["nodes"] == ["n1", "n2", "n3", "n4", "n5"]
    assert cluster.clocks == {}
    assert all(abs(o) < 200 for o in done.value["offsets_ms"].values())


def test_strobe_flips_in_the_background_until_reset() -> None:
    nemesis, cluster, _ = setup(ClockNemesis)
    done = invoke(nemesis, "strobe-clock", {"targets": ["n1"], "delta_ms": 800, "period_ms": 10})
    assert done.type == "ok" and done.value["nodes"] == ["n1"] and done.value["period_ms"] == 10
    time.sleep(0.2)
    flips = cluster.calls_to("set_clock")
    assert len(flips) >= 5
    assert {c.offset_ms for _, c in flips} == {0, 800}
    invoke(nemesis, "reset-clock")
    settled = len(cluster.calls_to("set_clock"))
    time.sleep(0.1)
    assert len(cluster.calls_to("set_clock")) == settled, "stopped flipping"
    assert cluster.clocks == {}


def test_clock_bad_parameters_fail_without_touching_clocks() -> None:
    nemesis, cluster, _ = setup(ClockNemesis)
    for value in ({"targets": "one", "delta_ms": "lots"}, {"targets": "one", "rate": -1},
                  {"targets": "everyone"}):
        f = "rate-clock" if "rate" in value else "bump-clock"
        done = invoke(nemesis, f, value)
        assert done.type == "fail" and done.error
    assert cluster.calls_to("set_clock") == []


def test_clock_teardown_resets_every_clock_and_stops_strobing() -> None:
    nemesis, cluster, _ = setup(ClockNemesis)
    invoke(nemesis, "strobe-clock", {"targets": "all", "delta_ms": 500, "period_ms": 5})
    time.sleep(0.05)
    nemesis.teardown()
    assert cluster.clocks == {}


# -- packet ------------------------------------------------------------------------------

def test_packet_loss_applies_to_targets_and_stop_clears() -> None:
    nemesis, cluster, _ = setup(PacketNemesis)
    done = invoke(nemesis, "start-packet", {"targets": ["n1", "n3"], "kind": "loss"})
    assert done.type == "ok" and done.value["nodes"] == ["n1", "n3"]
    assert done.value["kind"] == "loss" and done.value["fault"] == {"loss_pct": 20}
    assert cluster.packet == {"n1": PacketFault(loss_pct=20), "n3": PacketFault(loss_pct=20)}
    assert len(done.value["rules"]) == 2
    stopped = invoke(nemesis, "stop-packet")
    assert stopped.type == "ok" and len(stopped.value["removed"]) == 2 and not cluster.packet


def test_packet_kind_the_kernel_lacks_fails_with_the_reason_and_leaves_nothing() -> None:
    nemesis, cluster, _ = setup(PacketNemesis)
    done = invoke(nemesis, "start-packet", {"targets": "all", "kind": "duplicate"})
    assert done.type == "fail" and "sch_netem" in done.error
    assert done.value["nodes"] == [] and cluster.packet == {}


def test_packet_partial_failure_is_info() -> None:
    nemesis, cluster, _ = setup(PacketNemesis)
    cluster.fail["set_packet_fault"] = EnvironmentProblem("tc failed in n2")
    cluster.fail_nodes = {"n2"}
    done = invoke(nemesis, "start-packet", {"targets": ["n1", "n2"], "fault": {"rate_kbit": 64}})
    assert done.type == "info" and done.value["nodes"] == ["n1"] and "n2: tc failed" in done.error


def test_packet_bad_fault_fails() -> None:
    nemesis, cluster, _ = setup(PacketNemesis)
    for value in ({"kind": "smoke"}, {"fault": {"lag": 3}}, {"targets": ["n7"]}):
        assert invoke(nemesis, "start-packet", value).type == "fail"
    assert cluster.calls_to("set_packet_fault") == []


# -- membership --------------------------------------------------------------------------

def test_remove_node_goes_through_the_leader_and_add_node_restores_it() -> None:
    nemesis, _cluster, api = setup(MembershipNemesis, leader="n2")
    done = invoke(nemesis, "remove-node", ["n4"])
    assert done.type == "ok" and done.value["nodes"] == ["n4"] and done.value["leader"] == "n2"
    assert api.admin_calls == [("remove", "n2", 4)]
    assert done.value["members"] == ["n1", "n2", "n3", "n5"]
    added = invoke(nemesis, "add-node", "all")
    assert added.type == "ok" and added.value["nodes"] == ["n4"]
    assert api.members == {1, 2, 3, 4, 5}


def test_remove_node_never_goes_below_the_floor() -> None:
    nemesis, _cluster, api = setup(MembershipNemesis)
    removed = [invoke(nemesis, "remove-node", "one") for _ in range(4)]
    assert [r.type for r in removed] == ["ok", "ok", "fail", "fail"]
    assert "fewer than 3" in removed[2].error
    assert len(api.members) == 3


def test_remove_node_keeps_a_quorum_of_live_members() -> None:
    nemesis, cluster, api = setup(MembershipNemesis)
    cluster.pause("n4")
    cluster.pause("n5")
    done = invoke(nemesis, "remove-node", ["n2"])
    assert done.type == "fail" and "2 live of 4 members" in done.error
    assert api.members == {1, 2, 3, 4, 5}


def test_membership_needs_a_leader_and_reports_admin_errors() -> None:
    nemesis, _cluster, api = setup(MembershipNemesis, leader=None)
    assert invoke(nemesis, "remove-node").type == "fail"
    api.leader = "n1"
    api.admin_error = DefiniteError("503 not_leader")
    refused = invoke(nemesis, "remove-node", ["n3"])
    assert refused.type == "fail" and "n3: 503 not_leader" in refused.error
    api.admin_error = IndeterminateError("timed out waiting for n1")
    unknown = invoke(nemesis, "remove-node", ["n3"])
    assert unknown.type == "info" and "n3: timed out" in unknown.error


def test_membership_teardown_adds_missing_nodes_back() -> None:
    nemesis, _cluster, api = setup(MembershipNemesis)
    invoke(nemesis, "remove-node", "one")
    nemesis.teardown()
    assert api.members == {1, 2, 3, 4, 5}


# -- composition -------------------------------------------------------------------------

def test_compose_routes_by_f_and_tears_everything_down() -> None:
    cluster = FakeCluster(5)
    api = FakeNodeAPI(cluster)
    parts: list[Nemesis] = [PartitionNemesis(random.Random(1), api),
                            KillNemesis(random.Random(1), api), PauseNemesis(random.Random(1), api)]
    nemesis = compose(parts)
    assert nemesis.fs() == {"start-partition", "stop-partition", "kill", "start", "pause",
                            "resume"}
    nemesis.setup(cluster)
    invoke(nemesis, "start-partition", "halves")
    invoke(nemesis, "kill", ["n1"])
    invoke(nemesis, "pause", ["n2"])
    with pytest.raises(ValueError, match="no nemesis owns f='bump-clock'"):
        invoke(nemesis, "bump-clock")
    cluster.fail["heal_network"] = RuntimeError("iptables gone")
    with pytest.raises(RuntimeError, match="iptables gone"):
        nemesis.teardown()
    assert cluster.running == {"n1", "n2", "n3", "n4", "n5"} and not cluster.paused, \
        "a failing part does not stop the others from healing"


def test_compose_refuses_two_owners_of_one_f() -> None:
    with pytest.raises(ValueError, match="two nemeses own"):
        compose([KillNemesis(random.Random(0)), KillNemesis(random.Random(1))])
