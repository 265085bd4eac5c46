"""``chaos cluster`` end to end on real clusters, and the errors a user meets first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cluster import local as local_backend
from cluster.backends import make_cluster
from cluster.base import ClusterSpec
from cluster.cli import cluster as cluster_cli
from harness.errors import EnvironmentProblem


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cluster_cli, list(args), standalone_mode=False,
                                catch_exceptions=False)
    return int(result.return_value or 0), result.output


@pytest.mark.netns
@pytest.mark.slow
def test_up_status_logs_down_on_the_local_backend(tmp_path: Path) -> None:
    name = f"cli-{os.getpid()}"
    store = ["--store", str(tmp_path)]
    code, out = invoke("up", "--name", name, "--backend", "local", "--nodes", "3", *store)
    try:
        assert code == 0
        assert f"cluster {name} is up on local (3 nodes" in out
        assert "curl http://" in out and f"chaos cluster down --name {name}" in out
        code, out = invoke("status", "--json", *store)  # the only cluster: no --name needed
        nodes = json.loads(out)["nodes"]
        assert [n["node"] for n in nodes] == ["n1", "n2", "n3"]
        assert {n["state"] for n in nodes} == {"running"}
        assert len({n["leader"] for n in nodes}) == 1
        assert sum(n["role"] == "leader" for n in nodes) == 1
        code, out = invoke("status", "--name", name, *store)
        assert "leader" in out and "follower" in out
        code, out = invoke("logs", "n2", "--lines", "3", *store)
        assert out.startswith("==> n2 <==") and len(out.splitlines()) == 4
    finally:
        code, out = invoke("down", "--name", name, *store)
    assert f"removed cluster {name} (local)" in out
    assert local_backend.find_leftovers(name) == []
    assert not (tmp_path / "cluster" / name).exists()


@pytest.mark.netns
@pytest.mark.slow
def test_down_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    name = f"killed-{os.getpid()}"
    run = make_cluster("local", ClusterSpec(name=name, nodes=1, run_dir=tmp_path))
    run.up()  # ... and the run dies here: no heal, no down, nothing recorded
    assert local_backend.find_leftovers(name)
    code, out = invoke("down", "--name", name, "--store", str(tmp_path / "store"))
    assert code == 0
    assert f"removed netns raftchaos-{name}-n1 (killed 1 processes)" in out
    assert "removed bridge" in out and "removed host rule" in out
    assert local_backend.find_leftovers(name) == []


@pytest.mark.netns
@pytest.mark.slow
def test_a_node_that_never_becomes_healthy_is_named_with_its_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "raftkv"
    broken.write_text("#!/bin/sh\necho \"raftkv: cannot open /data: disk on fire\" >&2\n"
                      "exit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("RAFTKV_BIN", str(broken))
    name = f"broken-{os.getpid()}"
    spec = ClusterSpec(name=name, nodes=2, run_dir=tmp_path / "run", health_timeout_s=30)
    with pytest.raises(EnvironmentProblem) as caught:
        make_cluster("local", spec).up()
    message = str(caught.value)
    assert message.startswith("node n1 (") and "exited before it became healthy" in message
    assert "disk on fire" in message and "\n" not in message
    assert local_backend.find_leftovers(name) == []  # a failed up cleans up after itself


@pytest.mark.docker
def test_missing_image_says_how_to_build_it(tmp_path: Path) -> None:
    spec = ClusterSpec(name=f"noimage-{os.getpid()}", nodes=1, run_dir=tmp_path,
                       image="raftkv:no-such-tag")
    with pytest.raises(EnvironmentProblem, match=r"image raftkv:no-such-tag missing: build it "
                                                 r"with `chaos cluster build`"):
        make_cluster("docker", spec).up()
