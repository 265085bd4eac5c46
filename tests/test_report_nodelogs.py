"""reports.nodelogs: which node log lines a report keeps, and what it counts."""

from __future__ import annotations

from pathlib import Path

from reports.nodelogs import classify, excerpt, read_node_logs

LOG = """\
1741919400000 INFO raftkv n1 starting: read_mode=index
1741919400005 DEBUG tick
1741919400010 INFO became follower at term 1
1741919401000 INFO starting a new election, term 2
1741919401100 INFO became leader at term 2
1741919402000 WARN send to peer 3 failed: connection refused
1741919403000 ERROR raft storage: unexpected EOF
thread 'main' panicked at src/main.rs:10
1741919404000 INFO applied index 12
"""


def test_classify_lines() -> None:
    assert classify("1741919403000 ERROR boom") == (1741919403000, "ERROR", "error")
    assert classify("1741919402000 WARN slow") == (1741919402000, "WARN", "warn")
    assert classify("1741919401100 INFO became leader at term 2")[2] == "leader"
    assert classify("1741919401000 INFO starting a new election, term 2")[2] == "raft"
    assert classify("1741919404000 INFO applied index 12")[2] is None
    assert classify("thread 'main' panicked at x") == (None, "ERROR", "error")
    assert classify("")[2] is None


def test_excerpt_keeps_what_matters_and_counts() -> None:
    log = excerpt("n1", [("nodes/n1/raftkv.log", LOG.splitlines(keepends=True))])
    assert [ln.kind for ln in log.lines] == ["leader", "raft", "leader", "warn", "error", "error"]
    assert log.total_lines == 9
    assert (log.matched, log.errors, log.warnings, log.leader_changes) == (6, 2, 1, 1)
    assert log.max_term == 2
    assert log.lines[2].lineno == 5 and log.lines[2].term == 2
    assert log.lines[2].time_ms == 1741919401100


def test_excerpt_keeps_the_latest_lines_when_capped() -> None:
    lines = [f"17419194{i:05d} WARN warning {i}\n" for i in range(50)]
    log = excerpt("n2", [("a.log", lines)], max_lines=10)
    assert log.matched == 50 and len(log.lines) == 10
    assert log.lines[-1].text.endswith("warning 49")


def test_read_node_logs(tmp_path: Path) -> None:
    (tmp_path / "nodes" / "n2").mkdir(parents=True)
    (tmp_path / "nodes" / "n1").mkdir(parents=True)
    (tmp_path / "nodes" / "n1" / "raftkv.log").write_text(LOG)
    (tmp_path / "nodes" / "n1" / "stderr").write_bytes(b"1741919403000 ERROR bad byte \xff\n")
    (tmp_path / "nodes" / "n1" / "data.sst").write_bytes(b"\x00\x01")
    logs = read_node_logs(tmp_path / "nodes")
    assert [n.node for n in logs] == ["n1", "n2"]
    assert logs[0].files == ("nodes/n1/raftkv.log", "nodes/n1/stderr")
    assert logs[0].errors == 3
    assert logs[1].lines == ()
    assert read_node_logs(tmp_path / "missing") == []
