"""The Test description: built from TOML and flags, validated, saved, reloaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import InputError
from harness.run_cmd import parse_option, worst_exit_code
from harness.test import FIELD_NAMES, Test, build_test, load_test


def test_defaults_make_a_complete_test() -> None:
    t = build_test({"seed": 1})
    assert t == Test(name="register-none", seed=1)
    assert t.nodes == 3 and t.concurrency == 10 and t.rate == 50.0 and t.read_mode == "index"


def test_a_missing_seed_is_drawn_and_recorded() -> None:
    seeds = {build_test({}).seed for _ in range(5)}
    assert len(seeds) > 1


def test_toml_file_with_flags_on_top(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text('workload = "kv"\nnemesis = ["partition", "kill"]\nnodes = 5\nseed = 9\n'
                 'time_limit = 12\n[workload_options]\nops_per_key = 20\n')
    t = load_test(f, {"nodes": 3, "rate": 10})
    assert (t.workload, t.nemesis, t.nodes, t.rate, t.seed, t.time_limit) == (
        "kv", ("partition", "kill"), 3, 10.0, 9, 12.0)
    assert t.workload_options == {"ops_per_key": 20}
    assert t.name == "kv-partition+kill"


def test_test_json_round_trip_reruns_the_same_test(tmp_path: Path) -> None:
    t = build_test({"workload": "bank", "nemesis": "pause,clock", "unsafe": ["no-fsync"],
                    "seed": 42, "backend": "local", "workload_options": {"accounts": 3}})
    saved = tmp_path / "test.json"
    saved.write_text(t.to_json())
    assert set(json.loads(saved.read_text())) == set(FIELD_NAMES)
    assert load_test(saved, {}) == t


@pytest.mark.parametrize(("values", "message"), [
    ({"nodez": 3}, "unknown test option 'nodez'"),
    ({"nodes": 0}, "nodes: expected an integer from 1 to 9"),
    ({"nodes": 10}, "nodes: expected an integer from 1 to 9"),
    ({"nodes": "3"}, "nodes: expected an integer"),
    ({"rate": -1}, "rate: expected a positive number"),
    ({"rate": True}, "rate: expected a number"),
    ({"time_limit": float("inf")}, "time_limit: expected a number"),
    ({"read_mode": "fast"}, "read_mode: expected one of log, index"),
    ({"unsafe": ["stale-reads", "rm-rf"]}, "unsafe: expected one of"),
    ({"backend": "k8s"}, "backend: expected one of docker, local, ssh"),
    ({"backend": "ssh"}, "the ssh backend needs an inventory"),
    ({"client_placement": "n4"}, "client_placement: expected round-robin or a node name n1..n3"),
    ({"name": "../escape"}, "name: expected a name of letters"),
    ({"nemesis": "partition,,kill"}, "nemesis: expected names without empty entries"),
    ({"workload_options": [1]}, "workload_options: expected a table"),
    ({"seed": -1}, "seed: expected an integer from 0"),
    ({"accept_new_host_keys": "yes"}, "accept_new_host_keys: expected true or false"),
])
def test_bad_values_are_rejected_with_a_clear_message(values: dict[str, object],
                                                      message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build_test(values)


def test_bad_test_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("nodes = [\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_test(bad, {})
    with pytest.raises(InputError, match="cannot read test file"):
        load_test(tmp_path / "missing.toml", {})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("concurency = 3\n")
    with pytest.raises(InputError, match=r"unknown.toml: unknown test option 'concurency'"):
        load_test(unknown, {})


def test_workload_option_parsing() -> None:
    assert parse_option("ops_per_key=50") == ("ops_per_key", 50)
    assert parse_option("append_ratio=0.25") == ("append_ratio", 0.25)
    assert parse_option("name=hello") == ("name", "hello")
    with pytest.raises(InputError):
        parse_option("novalue")


def test_worst_exit_code() -> None:
    assert worst_exit_code([0, 3, 0]) == 3
    assert worst_exit_code([3, 1, 0]) == 1
    assert worst_exit_code([0, 0]) == 0


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--nodes", "0"], "nodes: expected an integer from 1 to 9"),
    (["run", "--workload", "queue"], "unknown workload 'queue'; known: bank, kv, register, set"),
    (["run", "--nemesis", "meteor"], "unknown nemesis meteor"),
    (["run", "-o", "ops_per_kee=3"], "workload 'register' has no option 'ops_per_kee'"),
    (["run", "-o", "ops_per_key=many"], "option ops_per_key must be int"),
    (["run", "--database", "etcd"], "unknown database 'etcd'"),
])
def test_cli_input_errors_exit_2_with_one_line(argv: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


def test_a_preset_supplies_workload_read_mode_and_defects_unless_given() -> None:
    t = load_test(None, {"preset": "stale-reads", "seed": 1})
    assert (t.workload, t.read_mode, t.unsafe, t.name) == (
        "register", "index", ("stale-reads",), "register-stale-reads")
    t2 = load_test(None, {"preset": "stale-reads", "read_mode": "stale", "seed": 1})
    assert t2.read_mode == "stale" and t2.unsafe == ("stale-reads",)
    with pytest.raises(InputError, match="unknown preset 'nope'"):
        load_test(None, {"preset": "nope"})


def test_a_preset_supplies_its_op_timeout_unless_given() -> None:
    from nemesis.presets import PRESETS

    lease = PRESETS["lease"]
    t = load_test(None, {"preset": "lease", "seed": 1})
    assert (t.read_mode, t.unsafe, t.op_timeout) == (
        lease.read_mode, tuple(lease.unsafe), lease.op_timeout_s)
    assert load_test(None, {"preset": "lease", "op_timeout": 3.0, "seed": 1}).op_timeout == 3.0
