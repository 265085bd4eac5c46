"""``chaos check``: verdicts, output forms and exit codes, run through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.edn import write_edn
from harness.history import write_jsonl
from harness.op import Op


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        sys.exit(main(list(args)))
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def history(read_value) -> list[Op]:
    return [Op(process=0, type="invoke", f="write", value=1, time=0),
            Op(process=0, type="ok", f="write", value=1, time=10**9),
            Op(process=1, type="invoke", f="read", value=None, time=2 * 10**9),
            Op(process=1, type="ok", f="read", value=read_value, time=3 * 10**9)]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.jsonl"
    write_jsonl(good, history(1))
    bad = tmp_path / "bad.edn"
    write_edn(bad, history(2))
    hard = tmp_path / "hard.jsonl"
    ops = [Op(process=p, type="invoke", f="append", value=f"{p},", key="k")
           for p in range(12)]
    ops += [Op(process=p, type="ok", f="append", value=f"{p},", key="k") for p in range(12)]
    ops += [Op(process=99, type="invoke", f="get", key="k"),
            Op(process=99, type="ok", f="get", value="nope", key="k")]
    write_jsonl(hard, ops)
    stale = tmp_path / "stale.jsonl"
    write_jsonl(stale, [Op(process=0, type="invoke", f="put", value="x", key="k"),
                        Op(process=0, type="ok", f="put", value="x", key="k"),
                        Op(process=1, type="invoke", f="get", key="k"),
                        Op(process=1, type="ok", f="get", value="", key="k")])
    return {"good": good, "bad": bad, "hard": hard, "stale": stale}


def test_all_valid_exits_0(capsys, files):
    code, out, _ = run(capsys, "check", "--model", "register", str(files["good"]))
    assert code == 0
    assert "✓ valid" in out and "good.jsonl" in out


def test_any_invalid_exits_1_with_the_sentence(capsys, files):
    code, out, _ = run(capsys, "check", "-m", "register", str(files["good"]), str(files["bad"]))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2 and "✗ invalid" in lines[1]
    assert "Read returned 2 at 3.00 s, but no operation in the history leads" in out


def test_json_output(capsys, files):
    code, out, _ = run(capsys, "check", "--model", "register", "--json",
                       str(files["good"]), str(files["bad"]))
    assert code == 1
    reports = json.loads(out)
    assert [r["file"] for r in reports] == [str(files["good"]), str(files["bad"])]
    assert [r["valid"] for r in reports] == [True, False]
    ce = reports[1]["counterexample"]
    assert reports[1]["part"] is None and ce["failing"] == 3
    assert {"ops", "failing", "prefix_length", "sentence"} <= set(ce)
    assert reports[0]["operations"] == 2 and reports[0]["model"] == "register"


def test_time_limit_unknown_exits_3(capsys, files):
    code, out, _ = run(capsys, "check", "--model", "kv", "--json", "--time-limit", "0.2",
                       str(files["hard"]))
    assert code == 3
    (report,) = json.loads(out)
    assert report["valid"] == "unknown" and "time limit" in report["error"]


def test_invalid_outranks_unknown(capsys, files):
    code, out, _ = run(capsys, "check", "--model", "kv", "--time-limit", "0.2",
                       str(files["hard"]), str(files["stale"]))
    assert code == 1
    assert "? unknown" in out and "✗ invalid" in out


@pytest.mark.parametrize("args, message", [
    (["--model", "queue", "x.jsonl"], "unknown model 'queue'"),
    (["--model", "register", "missing.jsonl"], "missing.jsonl: no such history file"),
    (["--model", "register", "--time-limit", "0", "x.jsonl"], "--time-limit must be"),
])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "check", *args)
    assert code == 2
    assert err.count("\n") == 1 and message in err


def test_malformed_file_names_file_and_line(capsys, tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"process":0,"type":"invoke","f":"read"}\n{"process": 0,\n')
    code, _, err = run(capsys, "check", "--model", "register", str(path))
    assert code == 2 and err.startswith(f"chaos: error: {path}:2: not valid JSON")


def test_model_mismatch_is_bad_input(capsys, files):
    code, _, err = run(capsys, "check", "--model", "mutex", str(files["good"]))
    assert code == 2 and "no 'write' operation" in err and "good.jsonl" in err


def test_installed_command(files):
    """The ``chaos`` entry point itself, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "check", "--model",
                           "register", "--json", str(files["bad"])],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)[0]["valid"] is False
