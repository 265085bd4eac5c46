"""``chaos report``: regenerate a stored run's reports; bad input is one line and exit 2."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from reports.synthetic import synthetic_run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("store")
    synthetic_run(store, n_ops=300, name="reg-good")
    synthetic_run(store, n_ops=300, invalid=True, name="reg-bad")
    return store


def test_report_regenerates_from_the_run_directory(store: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = next(p for p in (store / "reg-bad").iterdir() if not p.is_symlink())
    assert not (run / "report.html").exists()
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "✗ INVALID" in out and "nonlinearizable" in out
    assert f"wrote {run.resolve() / 'report.html'}" in out
    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    before = (run / "report.html").stat().st_mtime_ns
    os.utime(run / "report.html", ns=(0, 0))
    assert main(["report", "--quiet", str(run)]) == 0
    assert "INVALID" not in capsys.readouterr().out
    assert (run / "report.html").stat().st_mtime_ns >= before


def test_report_follows_latest(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-q", str(store)]) == 0  # store/latest: the newest run
    assert main(["report", "-q", str(store / "reg-good")]) == 0
    out = capsys.readouterr().out
    assert "reg-good" in out and "report.html" in out


@pytest.mark.parametrize("args", [["report"], ["report", "/no/such/run"],
                                  ["report", "--bogus", "x"]])
def test_bad_input_exits_2_with_one_line(args: list[str], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err


def test_a_directory_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a run directory" in err


def test_bad_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path)])
    assert e.value.code == 2
    assert "not a raft-chaos results file" in capsys.readouterr().err
