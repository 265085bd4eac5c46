"""chaos doctor reports each item truthfully: real probes, with tools or the engine taken away."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from harness import doctor
from harness.doctor import Finding, check_docker_engine, check_tool, is_ready


def test_missing_tool_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    finding = check_tool("no-such-tool-xyz", "some-package")()
    assert finding.status == "missing"
    assert finding.fix == "apt-get update && apt-get install -y some-package"


def test_present_tool_is_ok() -> None:
    finding = check_tool("sh", "dash")()
    assert finding.status == "ok"
    assert finding.detail.endswith("/sh")


def test_unreachable_engine_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # An engine address where nothing listens: the real SDK must fail to reach it.
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/raft-chaos-no-such-docker.sock")
    finding = check_docker_engine()
    assert finding.status == "missing"
    assert finding.required
    assert finding.fix


def test_readiness_counts_only_required_items() -> None:
    ok = Finding("a", "ok", "fine")
    optional_gap = Finding("b", "missing", "no rust", "install", required=False)
    warn = Finding("c", "warn", "no netem", required=False)
    required_gap = Finding("d", "missing", "no engine", "start it")
    assert is_ready([ok, optional_gap, warn])
    assert not is_ready([ok, required_gap])


def test_json_output_and_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "CHECKS", ())
    monkeypatch.setattr(doctor, "run_checks",
                        lambda checks=(): [Finding("docker engine", "missing", "down", "start")])
    result = CliRunner().invoke(doctor.doctor, ["--json"], standalone_mode=False)
    assert result.return_value == 2
    data = json.loads(result.output)
    assert data["ready"] is False
    assert data["findings"][0]["item"] == "docker engine"


def test_doctor_prints_one_line_per_item() -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "doctor"],
                          capture_output=True, text=True, timeout=120, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    # one line per check plus the closing readiness line
    assert len(lines) == len(doctor.CHECKS) + 1
    assert proc.returncode in (0, 2)
    assert ("not ready" in lines[-1]) == (proc.returncode == 2)
